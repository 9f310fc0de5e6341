/**
 * Reading Linux's /proc/<pid>/stat for the test harness (bounded-workers-pool, stall-reporter):
 * the command name and the fields after it. Returns null where /proc is absent or the process ended.
 */
import { readdirSync, readFileSync } from "node:fs";

export interface ProcStat {
  pid: number;
  comm: string;
  /** The fields after "(comm)": [0] state, [1] ppid, ..., [11] utime, [12] stime (proc(5), from field 3 on). */
  fields: string[];
}

export function procStat(pid: number | string): ProcStat | null {
  try {
    // "pid (comm) state ppid ...": comm may hold spaces or parentheses, so split after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return { pid: Number(pid), comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), fields: stat.slice(stat.lastIndexOf(")") + 2).split(" ") };
  } catch {
    return null;
  }
}

/** Every process's stat; empty where /proc is absent. */
export function allProcStats(): ProcStat[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  return entries.filter((e) => /^\d+$/.test(e)).flatMap((e) => procStat(e) ?? []);
}
