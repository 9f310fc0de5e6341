/**
 * Bounds the two steps of @cloudflare/vitest-pool-workers that can wait forever: starting a test
 * file's runtime (a new Miniflare, one workerd process per file, and the runner's WebSocket) and
 * disposing it.
 *
 * Why: vitest awaits a pool worker's start() with no timeout of its own. Its 90 s start timeout
 * only fails the file; the scheduler keeps awaiting start(), so one workerd that never comes up
 * stalls the whole run with no further output (seen in CI: a run printed a file's results, then
 * nothing for 80 minutes; upstream: cloudflare/workers-sdk#15498, workerd#6763 for the shutdown
 * side). A start that takes longer than START_BOUND_MS is abandoned, its workerd killed, and the
 * start tried again with a fresh runtime; a dispose that takes longer than STOP_BOUND_MS kills the
 * file's workerd. Each is reported on stderr, so a slow or hung runtime is visible in the log.
 */
import type { Plugin } from "vite";
import type { PoolOptions, PoolWorker } from "vitest/node";
import { allProcStats } from "./proc";

/** A healthy start takes 1-5 s on the 2-core reference machine, ~15 s when both cores are busy. */
const START_BOUND_MS = 60_000;
const START_ATTEMPTS = 3;
/** Disposing a runtime takes well under a second; shutdown crashes can leave it pending forever. */
const STOP_BOUND_MS = 30_000;
/** A start slower than this is reported even when it succeeds. */
const SLOW_START_MS = 15_000;

const TIMED_OUT = Symbol("timed out");

function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), ms)));
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** This process's workerd children (Miniflare spawns them directly); empty where /proc is absent. */
function workerdChildren(): Set<number> {
  return new Set(allProcStats().filter((p) => p.comm === "workerd" && Number(p.fields[1]) === process.pid).map((p) => p.pid));
}

function kill(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/**
 * Releases what an abandoned start left behind (the pool's Miniflare holds a loopback server that
 * keeps this process alive) where the start got as far as creating it; the next start replaces it.
 */
function abandon(worker: PoolWorker): void {
  const runtime = (worker as Partial<Record<"mf", { dispose(): Promise<void> }>>).mf;
  if (runtime) void within(runtime.dispose(), STOP_BOUND_MS).catch(() => undefined);
}

function report(message: string): void {
  process.stderr.write(`[bounded-workers-pool] ${message}\n`);
}

function describe(options: PoolOptions): string {
  return options.project.name || "workers";
}

/**
 * Starts run one at a time (across pool workers), so the workerd processes that appear during a
 * start belong to it: on a machine with more cores vitest starts several files' runtimes at once.
 */
let startQueue: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(task: () => Promise<T>): Promise<T> {
  const run = startQueue.then(task, task);
  startQueue = run.catch(() => undefined);
  return run;
}

/** Wraps one pool worker: its start and stop are bounded, everything else is the worker's own. */
function bounded(worker: PoolWorker, options: PoolOptions): PoolWorker {
  const start = worker.start.bind(worker);
  const stop = worker.stop.bind(worker);
  /** The workerd processes this worker's current runtime runs in. */
  let own = new Set<number>();

  /** One attempt: the workerd processes that appeared during it are this worker's (starts run one at a time). */
  const attemptStart = async (): Promise<{ timedOut: boolean; starting: Promise<void> }> => {
    const before = workerdChildren();
    const starting = start();
    starting.catch(() => undefined); // awaited below, or abandoned after the bound
    const outcome = await within(starting, START_BOUND_MS);
    own = new Set([...workerdChildren()].filter((pid) => !before.has(pid)));
    return { timedOut: outcome === TIMED_OUT, starting };
  };

  worker.start = async () => {
    for (let attempt = 1; ; attempt++) {
      const began = Date.now();
      const { timedOut, starting } = await oneAtATime(attemptStart);
      const tookMs = Date.now() - began;
      if (!timedOut) {
        if (tookMs > SLOW_START_MS) report(`${describe(options)}: runtime started in ${tookMs} ms (attempt ${attempt})`);
        return;
      }
      report(`${describe(options)}: runtime did not start within ${START_BOUND_MS} ms (attempt ${attempt} of ${START_ATTEMPTS}); killing workerd ${[...own].join(", ") || "(none found)"}`);
      // Without its workerd to kill, the abandoned start could still finish later and overwrite a
      // new one's runtime: fail the file rather than start twice.
      if (own.size === 0) throw new Error("workers pool: the runtime did not start and no workerd of it was found to stop");
      kill(own);
      await within(starting, STOP_BOUND_MS); // settles once its workerd is gone
      abandon(worker);
      if (attempt === START_ATTEMPTS) throw new Error(`workers pool: the runtime did not start in ${START_ATTEMPTS} attempts of ${START_BOUND_MS} ms`);
    }
  };

  worker.stop = async () => {
    const stopping = stop();
    stopping.catch(() => undefined);
    if ((await within(stopping, STOP_BOUND_MS)) === TIMED_OUT) {
      report(`${describe(options)}: runtime not disposed within ${STOP_BOUND_MS} ms; killing workerd ${[...own].join(", ") || "(none found)"}`);
      kill(own);
    }
  };
  return worker;
}

/** A Vite plugin placed after cloudflareTest(): wraps the pool it installed. */
export function boundedWorkersPool(): Plugin {
  return {
    name: "parley:bounded-workers-pool",
    configureVitest({ project }) {
      const runner = project.config.poolRunner;
      if (!runner) throw new Error("boundedWorkersPool() must come after cloudflareTest() in the project's plugins");
      const create = runner.createPoolWorker;
      project.config.poolRunner = { name: runner.name, createPoolWorker: (options) => bounded(create(options), options) };
    },
  };
}
