/**
 * Runs the real `parley` CLI (bin/parley.mjs) as a child process and parses its JSON lines.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";

const bin = join(import.meta.dirname, "..", "..", "..", "bin", "parley.mjs");

export interface CliResult {
  code: number;
  lines: Record<string, unknown>[];
  stderr: string;
}

export function parley(server: string, home: string, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, "--server", server, "--home", home, ...args], { timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      const lines = stdout
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, lines, stderr });
    });
  });
}
