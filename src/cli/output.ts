/**
 * @module The CLI's two channels: JSON lines on stdout (one object per line, the contract scripts
 * and tests read) and human messages on stderr. Failures carry an exit code.
 */

export function emit(record: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

export function info(message: string): void {
  process.stderr.write(`${message}\n`);
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export const USAGE_EXIT = 2;
