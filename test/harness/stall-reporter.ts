/**
 * A reporter that speaks up when the run stops making progress: if no test file starts or ends for
 * STALL_MS, it prints the files still running and this machine's test processes (pid, state, what
 * each waits on, CPU time), again every STALL_MS until the run ends. A run that hangs in CI then
 * says where before the CI kills it, instead of ending on the last file that did finish.
 */
import { readFileSync } from "node:fs";
import type { Reporter, TestModule } from "vitest/node";
import { allProcStats, type ProcStat } from "./proc";

/** Far longer than any file takes alone (the slowest, cli-e2e, ~80 s on the 2-core reference machine). */
const STALL_MS = 6 * 60_000;

function processLine({ pid, comm, fields }: ProcStat): string | null {
  if (!/^(node|workerd|chrom)/.test(comm)) return null;
  try {
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
    const wchan = readFileSync(`/proc/${pid}/wchan`, "utf8");
    const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").slice(0, 160);
    return `  pid ${pid} ppid ${fields[1]} ${fields[0]} wchan=${wchan || "-"} cpu=${(ticks / 100).toFixed(1)}s ${args}`;
  } catch {
    return null; // ended while we looked
  }
}

function processes(): string[] {
  const lines = allProcStats().flatMap((p) => processLine(p) ?? []);
  return lines.length > 0 ? lines : ["  (no /proc here, or no test processes)"];
}

export class StallReporter implements Reporter {
  private readonly running = new Map<string, number>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastProgress = Date.now();

  onTestRunStart(): void {
    this.lastProgress = Date.now();
    this.timer = setInterval(() => this.check(), 30_000);
    this.timer.unref();
  }

  onTestModuleStart(module: TestModule): void {
    this.running.set(`${module.project.name} ${module.relativeModuleId}`, Date.now());
    this.lastProgress = Date.now();
  }

  onTestModuleEnd(module: TestModule): void {
    this.running.delete(`${module.project.name} ${module.relativeModuleId}`);
    this.lastProgress = Date.now();
  }

  onTestRunEnd(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    const idleMs = Date.now() - this.lastProgress;
    if (idleMs < STALL_MS) return;
    this.lastProgress = Date.now(); // report again after another STALL_MS
    const files = [...this.running].map(([name, since]) => `  ${name} (running ${Math.round((Date.now() - since) / 1000)} s)`);
    process.stderr.write(
      [
        `[stall-reporter] no test file started or ended for ${Math.round(idleMs / 1000)} s.`,
        "files running:",
        ...(files.length ? files : ["  (none: waiting on a runtime to start or on teardown)"]),
        "processes:",
        ...processes(),
        "",
      ].join("\n"),
    );
  }
}
