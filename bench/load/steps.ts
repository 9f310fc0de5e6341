/**
 * Counting the Worker's steps per message (`npm run bench:load -- --count-steps`): uprobes on the
 * workerd binary, which ships its symbols, count while a phase runs
 *   - JS runs: `IoContext::runImpl`, one per incoming event and one per continuation after an
 *     awaited RPC (a bare RPC round trip is 2);
 *   - incoming RPCs: `JsRpcTargetBase::callImpl`;
 *   - write commits: SQLite's `pagerWalFrames`, once per commit that writes (its `vdbeCommit`
 *     also ends every read transaction, so it would over-count);
 * and, from the kernel's syscall tracepoints, what those commits cost the disk:
 *   - fsyncs: `fsync` + `fdatasync` calls (SQLite's xSync; each blocks workerd's thread);
 *   - pwrites: `pwrite64` calls (a WAL frame is two: its header and its page).
 * Counts do not move with the machine's speed as times do: on a shared VM they compare two
 * versions of the server where throughput cannot. Needs Linux `perf` and the right to add uprobes
 * (root); without them the bench says why and leaves the rows out.
 */
import { execFileSync, spawn } from "node:child_process";
import { readlinkSync } from "node:fs";

/** Steps per message. */
export interface Steps {
  runs: number;
  rpcs: number;
  commits: number;
  fsyncs: number;
  pwrites: number;
}

type ProbedStep = "runs" | "rpcs" | "commits";

/** Kernel tracepoints counted alongside the probes (no setup needed beyond perf's rights). */
const SYSCALLS: Record<Exclude<keyof Steps, ProbedStep>, string[]> = {
  fsyncs: ["syscalls:sys_enter_fsync", "syscalls:sys_enter_fdatasync"],
  pwrites: ["syscalls:sys_enter_pwrite64"],
};

const PROBES: Record<ProbedStep, { name: string; symbol: string; mangled: boolean }> = {
  runs: {
    name: "parley_runs",
    symbol: "_ZN7workerd9IoContext7runImplERNS0_8RunnableENS_6Worker8LockTypeEN2kj5MaybeINS_9InputGate4LockEEENS_30IoContext_Runnable_ExceptionalE",
    mangled: true,
  },
  rpcs: {
    name: "parley_rpcs",
    symbol: "_ZN7workerd3api15JsRpcTargetBase8callImplERNS_6Worker4LockERNS_9IoContextEN5capnp11CallContextINS_3rpc11JsRpcTarget10CallParamsENSA_11CallResultsEEE",
    mangled: true,
  },
  commits: { name: "parley_commits", symbol: "pagerWalFrames", mangled: false },
};

const perf = (args: string[]) => execFileSync("perf", args, { stdio: ["ignore", "pipe", "pipe"] }).toString();

/**
 * Adds the probes to the binary workerd process `pid` runs (replacing ours from an earlier run).
 * Returns null when counting works, else why it cannot.
 */
export function prepareStepProbes(pid: number): string | null {
  try {
    const binary = readlinkSync(`/proc/${pid}/exe`);
    try {
      perf(["probe", "-q", "-d", "probe_workerd:parley_*"]);
    } catch {
      // none yet
    }
    for (const p of Object.values(PROBES)) perf(["probe", "-q", "-x", binary, ...(p.mangled ? ["--no-demangle"] : []), "--add", `${p.name}=${p.symbol}`]);
    return null;
  } catch (err) {
    const detail = err instanceof Error && "stderr" in err ? String((err as { stderr: unknown }).stderr).trim().split("\n")[0] : String(err);
    return `step counting unavailable: ${detail}`;
  }
}

/** Runs `body` while counting the steps of workerd process `pid`; totals (divide by messages). */
export async function countSteps<T>(pid: number, body: () => Promise<T>): Promise<{ result: T; totals: Steps }> {
  const events = [...Object.values(PROBES).map((p) => `probe_workerd:${p.name}`), ...Object.values(SYSCALLS).flat()].flatMap((e) => ["-e", e]);
  const stat = spawn("perf", ["stat", "-x", ",", ...events, "-p", String(pid)], { stdio: ["ignore", "ignore", "pipe"] });
  let output = "";
  stat.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => stat.once("close", () => resolve()));
  // perf attaches within a few milliseconds; a phase runs for seconds.
  await new Promise((resolve) => setTimeout(resolve, 200));
  try {
    return { result: await body(), totals: await stop() };
  } catch (err) {
    await stop();
    throw err;
  }

  async function stop(): Promise<Steps> {
    stat.kill("SIGINT");
    await exited;
    const count = (event: string) => Number(output.split("\n").find((l) => l.split(",")[2] === event)?.split(",")[0] ?? NaN);
    const probe = (name: string) => count(`probe_workerd:${name}`);
    const sum = (events: string[]) => events.reduce((total, event) => total + count(event), 0);
    return {
      runs: probe(PROBES.runs.name),
      rpcs: probe(PROBES.rpcs.name),
      commits: probe(PROBES.commits.name),
      fsyncs: sum(SYSCALLS.fsyncs),
      pwrites: sum(SYSCALLS.pwrites),
    };
  }
}
