/**
 * Runs the real `parley` CLI (bin/parley.mjs) as a child process and parses its JSON lines.
 */
import { execFile, spawn } from "node:child_process";
import { join } from "node:path";

const bin = join(import.meta.dirname, "..", "..", "..", "bin", "parley.mjs");

export interface CliResult {
  code: number;
  lines: Record<string, unknown>[];
  stderr: string;
}

export function parley(server: string, home: string, ...args: string[]): Promise<CliResult> {
  return parleyWithEnv(process.env, server, home, ...args);
}

/** `parley` with the child's environment given (e.g. NODE_OPTIONS for a preload). */
export function parleyWithEnv(env: NodeJS.ProcessEnv, server: string, home: string, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, "--server", server, "--home", home, ...args], { timeout: 120_000, env }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      const lines = stdout
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, lines, stderr });
    });
  });
}

/** A long-running command (e.g. `parley link`, which waits): its stdout lines as they come, and its end. */
export function parleyRunning(server: string, home: string, ...args: string[]): { nextLine(): Promise<Record<string, unknown>>; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [bin, "--server", server, "--home", home, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const lines: Record<string, unknown>[] = [];
  const waiting: (() => void)[] = [];
  let stdout = "";
  let stderr = "";
  let taken = 0;
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    let at: number;
    while ((at = stdout.indexOf("\n")) >= 0) {
      const line = stdout.slice(0, at).trim();
      stdout = stdout.slice(at + 1);
      if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    waiting.splice(0).forEach((wake) => wake());
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<CliResult>((resolve) => {
    child.on("close", (code) => {
      waiting.splice(0).forEach((wake) => wake());
      resolve({ code: code ?? 1, lines, stderr });
    });
  });
  const timer = setTimeout(() => child.kill(), 120_000);
  void done.then(() => clearTimeout(timer));
  return {
    async nextLine() {
      while (lines.length <= taken) {
        if (child.exitCode !== null) throw new Error(`parley ${args[0]} ended without another line: ${stderr}`);
        await new Promise<void>((wake) => waiting.push(wake));
      }
      return lines[taken++]!;
    },
    done,
  };
}
