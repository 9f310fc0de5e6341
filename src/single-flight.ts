/**
 * @module Single-flight rounds for a Durable Object's background hand-offs (a ChatRoom's fanout, an
 * inbox's delivered receipts): at most one round runs at a time; a call that arrives while one runs
 * makes it run once more and shares its promise, so whatever that caller stored before calling is
 * attempted before its promise resolves, and concurrent callers never send the same rows twice.
 */
export class SingleFlight {
  private running: Promise<void> | null = null;
  private again = false;

  constructor(private readonly round: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.round();
        } while (this.again);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /** Asks for one more round after the current one (e.g. a round that stopped at its batch size). */
  runAgain(): void {
    this.again = true;
  }
}
