/**
 * @module Single-flight rounds for a Durable Object's background hand-offs (a ChatRoom's fanout, an
 * inbox's delivered receipts): at most one round runs at a time; a call that arrives while one runs
 * makes it run once more, and its promise resolves when that next round ends, so whatever that
 * caller stored before calling is attempted before its promise resolves, and concurrent callers
 * never send the same rows twice. A caller waits for its own round only, never for the rounds
 * later callers ask for: under a steady stream of calls the loop may never pause, and a promise
 * of the whole loop would keep the first caller (a send's ack) waiting as long as the stream lasts.
 */
export class SingleFlight {
  private running = false;
  private again = false;
  /** Rounds started so far; a caller waits for round `started + 1` as of its call. */
  private started = 0;
  private waiters: { round: number; resolve: () => void; reject: (err: unknown) => void }[] = [];

  constructor(private readonly round: () => Promise<void>) {}

  run(): Promise<void> {
    const promise = new Promise<void>((resolve, reject) => this.waiters.push({ round: this.started + 1, resolve, reject }));
    if (this.running) this.again = true;
    else void this.loop();
    return promise;
  }

  /** Asks for one more round after the current one (e.g. a round that stopped at its batch size). */
  runAgain(): void {
    this.again = true;
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      do {
        this.again = false;
        const round = ++this.started;
        await this.round();
        this.settle((w) => w.round <= round, (w) => w.resolve());
      } while (this.again || this.waiters.length > 0);
    } catch (err) {
      // As before: a round that throws fails every caller waiting, and the loop stops.
      this.settle(() => true, (w) => w.reject(err));
    } finally {
      this.running = false;
    }
  }

  private settle(which: (w: SingleFlight["waiters"][number]) => boolean, how: (w: SingleFlight["waiters"][number]) => void): void {
    const done = this.waiters.filter(which);
    this.waiters = this.waiters.filter((w) => !which(w));
    for (const w of done) how(w);
  }
}
