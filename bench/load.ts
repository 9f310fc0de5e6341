/**
 * Load benchmark (`npm run bench:load`, issue 12): latency and throughput of the real delivery path
 * (device socket -> sender's DeviceInbox -> ChatRoom -> recipient's DeviceInbox -> socket) against
 * a floor measured in the same run with the same client code (bench/floor: one DO relaying in
 * memory; two DOs with one SQLite insert; and the room floor, Parley's own steps for a message and
 * its receipt with nothing else). Starts every server itself (wrangler dev, fresh
 * state in a temporary directory), stops them at the end, and prints a table plus a JSON file in
 * bench/results/. Results and how to read them: docs/PERFORMANCE.md.
 *
 *   npm run bench:load                 the full run (200 accounts, 20,000 messages, 10,000 sockets)
 *   npm run bench:load -- --quick      a small run for development (a minute or two)
 *   options: --devices N  --skip-floor  --skip-idle  --idle 2000,10000  --out FILE
 *            --profile: after the phases, profile Parley's isolate under the throughput load and
 *            print the functions with the most self time (the CPU profile goes next to the JSON);
 *            --profile-drain: the same for one more offline drain
 *            --count-steps: also count the Worker's JS runs, incoming RPCs, write commits, fsyncs and
 *            pwrites per message in the latency and throughput phases (uprobes and syscall
 *            tracepoints; needs perf and root: load/steps.ts)
 *
 * Phases, per server: (1) 1:1 latency, one message in flight; (2) 1:1 throughput, at most WINDOW
 * unacknowledged, random pairs from a fixed contact graph (each device has CONTACTS peers, every
 * chat warmed up with one message first, so the figure is the steady state and not chat creation);
 * (3) offline drain: once the throughput phase's deferred work is done (DEFERRED_WORK_MS), messages
 * queued for an offline device, then (once the server is idle again) the time from connect to the
 * last one; (4, Parley only) idle hibernated sockets: memory and file descriptors per socket.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { BenchSocket, type BenchDevice, floorDevice, mintedDevice, registerDevice, sendFrame, type SocketEvents } from "./load/client";
import { type HotFunction, hotFunctions, Inspector } from "./load/profile";
import { countSteps, prepareStepProbes, type Steps } from "./load/steps";
import { maxMapCount, processCpuMs, processFdLimit, processFds, processMaps, processRssBytes, type RunningServer, startFloor, startParley } from "./load/servers";

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const quick = flag("--quick");

const SIZES = {
  devices: Number(option("--devices", quick ? "40" : "200")),
  /** Peers per device in the contact graph the throughput phase picks pairs from. */
  contacts: 4,
  latencyWarmup: quick ? 50 : 200,
  latencyCount: quick ? 300 : 2000,
  throughputCount: quick ? 3000 : 20000,
  window: 256,
  drainCount: quick ? 2000 : 10000,
  idle: option("--idle", quick ? "500,2000" : "2000,10000").split(",").map(Number),
};
/** Registrations and socket connects in parallel during setup. */
const SETUP_CONCURRENCY = 16;
/** Seconds of quiet after which an idle Durable Object hibernates (platform: ~10 s), plus margin. */
const HIBERNATE_WAIT_MS = 15_000;
/** Idle sockets connect in waves of this many, HIBERNATE_WAIT_MS apart (see idleSockets). */
const IDLE_WAVE_SOCKETS = 1000;
const PHASE_TIMEOUT_MS = 20 * 60_000;

// ---- measuring -----------------------------------------------------------------------------------

interface Track {
  sentAt: number;
  ackAt?: number;
  recvAt?: number;
  status?: number;
  /** Whether a delivery is expected (not for messages to an offline device). */
  needsRecv: boolean;
  onAck: (() => void) | undefined;
  done: () => void;
}

/** Every message in flight, keyed by msg_id (also the req_id of its send frame). */
const tracks = new Map<string, Track>();
const failures = new Map<number, number>();
let msgCounter = 0;

const events: SocketEvents = {
  result(msgId, status, at) {
    const track = tracks.get(msgId);
    if (!track) return;
    track.ackAt = at;
    track.status = status;
    if (status !== 200) failures.set(status, (failures.get(status) ?? 0) + 1);
    track.onAck?.();
    settle(track);
  },
  message(msgId, at) {
    const track = tracks.get(msgId);
    if (!track || track.recvAt !== undefined) return;
    track.recvAt = at;
    settle(track);
  },
};

function settle(track: Track): void {
  if (track.ackAt === undefined) return;
  if (track.status === 200 && track.needsRecv && track.recvAt === undefined) return;
  track.done();
}

/**
 * Sends one message and resolves when it is acknowledged (and delivered, when `needsRecv`);
 * `onAck` runs at the ack (a pipeline's window counts unacknowledged sends).
 */
function sendTracked(from: BenchSocket, to: BenchDevice, needsRecv: boolean, onAck?: () => void): Promise<Track> {
  const msgId = `bench-${(++msgCounter).toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  return new Promise((resolve) => {
    const track: Track = {
      sentAt: performance.now(),
      needsRecv,
      onAck,
      done: () => {
        tracks.delete(msgId);
        resolve(track);
      },
    };
    tracks.set(msgId, track);
    from.send(sendFrame(msgId, to));
  });
}

interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.at(-1) ?? NaN };
}

interface Cost {
  /** CPU of the Worker's workerd process per message, µs. */
  serverUs: number;
  /** CPU of this benchmark process per message, µs. */
  clientUs: number;
  /** The Worker's steps per message (`--count-steps`). */
  steps?: Steps;
}

/** Whether to count steps (`--count-steps`), and why not once that turned out impossible. */
let stepCounting = flag("--count-steps");
let stepCountingProblem: string | null = null;

/** Runs `body` and measures server and client CPU (and with --count-steps the steps) around it, per `count()` messages. */
async function costed<T>(server: RunningServer, body: () => Promise<T>, count: (r: T) => number): Promise<{ result: T; cost: Cost }> {
  if (stepCounting && (stepCountingProblem = prepareStepProbes(server.workerPid))) stepCounting = false;
  const serverBefore = processCpuMs(server.workerPid);
  const clientBefore = process.cpuUsage();
  const run = () => withTimeout(body(), PHASE_TIMEOUT_MS);
  const { result, totals } = stepCounting ? await countSteps(server.workerPid, run) : { result: await run(), totals: undefined };
  const client = process.cpuUsage(clientBefore);
  const serverMs = processCpuMs(server.workerPid) - serverBefore;
  const n = count(result);
  const steps = totals && { runs: totals.runs / n, rpcs: totals.rpcs / n, commits: totals.commits / n, fsyncs: totals.fsyncs / n, pwrites: totals.pwrites / n };
  return { result, cost: { serverUs: (serverMs * 1000) / n, clientUs: (client.user + client.system) / n, steps } };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`phase timed out after ${ms} ms (${tracks.size} in flight)`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---- phases ----------------------------------------------------------------------------------------

interface Target {
  label: string;
  server: RunningServer;
  socketBase: string;
  devices: BenchDevice[];
  sockets: BenchSocket[];
}

interface LatencyResult {
  ack: Percentiles;
  deliver: Percentiles;
  cost: Cost;
}

async function latency(t: Target): Promise<LatencyResult> {
  const [from, to] = [t.sockets[0]!, t.devices[1]!];
  for (let i = 0; i < SIZES.latencyWarmup; i++) await sendTracked(from, to, true);
  const { result, cost } = await costed(
    t.server,
    async () => {
      const samples: Track[] = [];
      for (let i = 0; i < SIZES.latencyCount; i++) samples.push(await sendTracked(from, to, true));
      return samples;
    },
    (s) => s.length,
  );
  return {
    ack: percentiles(result.map((s) => s.ackAt! - s.sentAt)),
    deliver: percentiles(result.filter((s) => s.recvAt !== undefined).map((s) => s.recvAt! - s.sentAt)),
    cost,
  };
}

/** Sends a schedule of (from, to) device indexes with at most `window` unacknowledged sends. */
function pipeline(t: Target, schedule: [number, number][], window: number, needsRecv: boolean): Promise<{ tracks: Track[]; ms: number }> {
  return new Promise((resolve) => {
    const done: Track[] = [];
    const start = performance.now();
    let next = 0;
    let unacked = 0;
    const fill = () => {
      while (unacked < window && next < schedule.length) {
        const [from, to] = schedule[next++]!;
        unacked++;
        const onAck = () => {
          unacked--;
          // Sends from inside the socket's frame handler: the next one leaves at once.
          fill();
        };
        void sendTracked(t.sockets[from]!, t.devices[to]!, needsRecv, onAck).then((track) => {
          done.push(track);
          if (done.length === schedule.length) resolve({ tracks: done, ms: Math.max(...done.map((d) => d.recvAt ?? d.ackAt!)) - start });
        });
      }
    };
    fill();
  });
}

interface ThroughputResult {
  msgsPerSecond: number;
  ack: Percentiles;
  deliver: Percentiles;
  cost: Cost;
  failed: number;
}

/** A fixed random contact graph (seeded: the same for every server) and a random schedule over it. */
function contactPairs(n: number, seed: number): [number, number][] {
  const random = mulberry32(seed);
  const pairs = new Map<string, [number, number]>();
  for (let i = 0; i < n; i++) {
    let tries = 0;
    while ([...pairs.values()].filter(([a, b]) => a === i || b === i).length < SIZES.contacts && tries++ < 50) {
      const j = Math.floor(random() * n);
      if (j === i) continue;
      pairs.set(`${Math.min(i, j)}.${Math.max(i, j)}`, [Math.min(i, j), Math.max(i, j)]);
    }
  }
  return [...pairs.values()];
}

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` sends between random contacts, in a random direction. */
function randomSchedule(pairs: [number, number][], count: number, seed: number): [number, number][] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, () => {
    const [a, b] = pairs[Math.floor(random() * pairs.length)]!;
    return (random() < 0.5 ? [a, b] : [b, a]) as [number, number];
  });
}

async function throughput(t: Target): Promise<ThroughputResult> {
  const pairs = contactPairs(t.devices.length, 12);
  await pipeline(t, pairs, SIZES.window, true); // warm-up: every chat exists and has its device lists
  const schedule = randomSchedule(pairs, SIZES.throughputCount, 34);
  const failedBefore = [...failures.values()].reduce((x, y) => x + y, 0);
  const { result, cost } = await costed(t.server, () => pipeline(t, schedule, SIZES.window, true), (r) => r.tracks.length);
  const ok = result.tracks.filter((s) => s.status === 200);
  return {
    msgsPerSecond: ok.length / (result.ms / 1000),
    ack: percentiles(ok.map((s) => s.ackAt! - s.sentAt)),
    deliver: percentiles(ok.filter((s) => s.recvAt !== undefined).map((s) => s.recvAt! - s.sentAt)),
    cost,
    failed: [...failures.values()].reduce((x, y) => x + y, 0) - failedBefore,
  };
}

interface DrainResult {
  /** The server's CPU while waiting DEFERRED_WORK_MS after the throughput phase, before the fill. */
  deferredCpuMs: number;
  /** Sending the backlog to the offline device: msgs/s, until the server is idle again (settle included). */
  fillPerSecond: number;
  /** After the last send's ack, how long the server stayed busy with work the sends left behind, and its CPU meanwhile. */
  settleMs: number;
  settleCpuMs: number;
  /** Connect -> last queued message received (and queue_empty). */
  drainMs: number;
  /** Connect -> the upgrade answered (101): the part of drainMs before the first entry can arrive. */
  upgradeMs: number;
  received: number;
}

async function drain(t: Target, beforeConnect?: () => Promise<void>): Promise<DrainResult> {
  const [sender, offline] = [2, 3];
  const cursor = t.sockets[offline]!.cursor;
  await t.sockets[offline]!.close();
  const schedule = Array.from({ length: SIZES.drainCount }, () => [sender, offline] as [number, number]);
  const deferredCpuMs = await cpuOver(t.server.workerPid, DEFERRED_WORK_MS);
  const filled = await withTimeout(pipeline(t, schedule, SIZES.window, false), PHASE_TIMEOUT_MS);
  // The device connects once the server is idle: measured right after the last ack, the drain
  // waited seconds for work the 10,000 sends left behind (its CPU is counted here, as queueing).
  const settled = await untilIdle(t.server.workerPid);
  await beforeConnect?.();
  let received = 0;
  const counting: SocketEvents = { result: () => {}, message: () => void received++ };
  const start = performance.now();
  t.sockets[offline] = await withTimeout(BenchSocket.open(t.socketBase, t.devices[offline]!, cursor, counting), PHASE_TIMEOUT_MS);
  const drainMs = performance.now() - start;
  const upgradeMs = (t.sockets[offline]!.openedAt ?? start) - start;
  t.sockets[offline]!.setEvents(events);
  return { deferredCpuMs, fillPerSecond: SIZES.drainCount / ((filled.ms + settled.ms) / 1000), settleMs: settled.ms, settleCpuMs: settled.cpuMs, drainMs, upgradeMs, received };
}

/**
 * How long the throughput phase's objects keep working after it: idle objects are evicted ~10 s
 * after their last event, and every chat and inbox that took traffic runs its backstop alarm at most
 * 30 s after the commit that armed it (FANOUT_BACKSTOP_MS, RECEIPT_BACKSTOP_MS). The fill waits this long, so
 * its rate and its tail are its own; before, that work landed right after the fill's last ack.
 */
const DEFERRED_WORK_MS = 35_000;

/** The CPU milliseconds the process `pid` uses over the next `ms`. */
async function cpuOver(pid: number, ms: number): Promise<number> {
  const before = processCpuMs(pid);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return processCpuMs(pid) - before;
}

/** CPU share of one core below which the server counts as idle, over IDLE_WINDOW_MS; waits at most SETTLE_MAX_MS. */
const IDLE_CPU_SHARE = 0.1;
const IDLE_WINDOW_MS = 500;
const SETTLE_MAX_MS = 30_000;

/** Waits until the workerd process `pid` has used less than IDLE_CPU_SHARE of a core for IDLE_WINDOW_MS. */
async function untilIdle(pid: number): Promise<{ ms: number; cpuMs: number }> {
  const start = performance.now();
  const cpuAtStart = processCpuMs(pid);
  for (;;) {
    const windowStart = performance.now();
    const cpuBefore = processCpuMs(pid);
    await new Promise((resolve) => setTimeout(resolve, IDLE_WINDOW_MS));
    const busy = processCpuMs(pid) - cpuBefore;
    const elapsed = performance.now() - start;
    // The idle window itself is not part of the settle time.
    if (busy < IDLE_CPU_SHARE * IDLE_WINDOW_MS || elapsed >= SETTLE_MAX_MS) {
      return { ms: windowStart - start, cpuMs: cpuBefore - cpuAtStart };
    }
  }
}

interface IdleResult {
  sockets: number;
  /** Connects refused or failed; the phase stops adding sockets at the first one. */
  failed: number;
  firstError: string | null;
  /** The server's log lines about errors around the first refusal (the whole log is kept next to the JSON). */
  serverErrors: string[];
  connectPerSecond: number;
  rssPerSocketKB: number;
  fdsPerSocket: number;
  /** Memory mappings of the Worker's process per socket (each Durable Object's SQLite adds some). */
  mapsPerSocket: number;
  workerRssMB: number;
  pingsAnswered: number;
}

/** Connects `total` sockets in all (on top of those open) and measures them once hibernated. */
async function idleSockets(server: RunningServer, open: BenchSocket[], total: number, baseline: { rss: number; fds: number; maps: number }): Promise<IdleResult> {
  const before = open.length;
  let failed = 0;
  let firstError: string | null = null;
  let serverErrors: string[] = [];
  const logBefore = server.server.output().length;
  let connectMs = 0;
  // In waves with a pause between, as devices come online over time: an inbox whose socket just
  // connected keeps its SQLite database open until it hibernates, and one local workerd shares a
  // process-wide SQLite heap limit among all open databases (docs/PERFORMANCE.md, "Idle sockets").
  while (open.length < total && failed === 0) {
    if (open.length > before) await new Promise((resolve) => setTimeout(resolve, HIBERNATE_WAIT_MS));
    const waveStart = performance.now();
    await connectWave(Math.min(IDLE_WAVE_SOCKETS, total - open.length));
    connectMs += performance.now() - waveStart;
  }
  async function connectWave(count: number): Promise<void> {
    await inParallel(count, SETUP_CONCURRENCY * 4, async () => {
      if (failed > 0) return; // How many one workerd holds: stop at the first refusal.
      try {
        open.push(await BenchSocket.open(server.workerUrl, await mintedDevice(server.tokenSecret!), 0));
      } catch (err) {
        failed++;
        if (firstError === null) {
          firstError =
            `${String(err)} after ${open.length} sockets (worker fds ${processFds(server.workerPid)} of ${processFdLimit(server.workerPid)}, ` +
            `memory mappings ${processMaps(server.workerPid)} of ${maxMapCount()}, RSS ${Math.round(processRssBytes(server.workerPid) / 1024 / 1024)} MB)`;
          await new Promise((resolve) => setTimeout(resolve, 1000)); // Let the server's log catch up.
          serverErrors = server.server
            .output()
            .slice(logBefore)
            .split("\n")
            .filter((line) => /error|exception|fail|too many|EMFILE|overloaded|memory/i.test(line))
            .slice(0, 20)
            .map((line) => line.slice(0, 400));
        }
      }
    });
  }
  const connectPerSecond = (open.length - before) / (connectMs / 1000);
  await new Promise((resolve) => setTimeout(resolve, HIBERNATE_WAIT_MS));
  const rss = processRssBytes(server.workerPid);
  const fds = processFds(server.workerPid);
  const maps = processMaps(server.workerPid);
  // Liveness after hibernation: "ping" is answered by the runtime without waking the inbox.
  let pingsAnswered = 0;
  const sample = open.filter((_, i) => i % Math.max(1, Math.floor(open.length / 100)) === 0);
  await Promise.all(sample.map((s) => withTimeout(s.ping(), 10_000).then(() => void pingsAnswered++, () => {})));
  return {
    sockets: open.length,
    failed,
    firstError,
    serverErrors,
    connectPerSecond,
    rssPerSocketKB: (rss - baseline.rss) / open.length / 1024,
    fdsPerSocket: (fds - baseline.fds) / open.length,
    mapsPerSocket: (maps - baseline.maps) / open.length,
    workerRssMB: rss / 1024 / 1024,
    pingsAnswered: pingsAnswered / sample.length,
  };
}

async function inParallel(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

async function connectAll(t: Omit<Target, "sockets">): Promise<Target> {
  const sockets: BenchSocket[] = new Array(t.devices.length);
  await inParallel(t.devices.length, SETUP_CONCURRENCY, async (i) => {
    sockets[i] = await BenchSocket.open(t.socketBase, t.devices[i]!, 0, events);
  });
  return { ...t, sockets };
}

interface ServerResults {
  latency: LatencyResult;
  throughput: ThroughputResult;
  drain: DrainResult | null;
}

async function runPhases(t: Target, withDrain: boolean): Promise<ServerResults> {
  log(`${t.label}: latency (${SIZES.latencyCount} after ${SIZES.latencyWarmup} warm-up)`);
  const lat = await latency(t);
  log(`${t.label}: throughput (${SIZES.throughputCount} messages, window ${SIZES.window})`);
  const thr = await throughput(t);
  let dr: DrainResult | null = null;
  if (withDrain) {
    log(`${t.label}: offline drain (${SIZES.drainCount})`);
    dr = await drain(t);
  }
  return { latency: lat, throughput: thr, drain: dr };
}

/** CPU profile of the server's isolate while it carries the throughput workload (not part of the figures). */
function profile(t: Target, profilePath: string): Promise<HotFunction[]> {
  return profiled(t, profilePath, async (start) => {
    const schedule = randomSchedule(contactPairs(t.devices.length, 12), Math.min(SIZES.throughputCount, 5000), 56);
    await start();
    await withTimeout(pipeline(t, schedule, SIZES.window, true), PHASE_TIMEOUT_MS);
  });
}

/** CPU profile of the server's isolate during one more offline drain, from connect on (not part of the figures). */
function profileDrain(t: Target, profilePath: string): Promise<HotFunction[]> {
  return profiled(t, profilePath, async (start) => {
    const result = await drain(t, start);
    log(`profiled drain: ${result.drainMs.toFixed(0)} ms, filled at ${result.fillPerSecond.toFixed(0)} msgs/s`);
  });
}

/** Runs `work`, profiling the server's isolate from when `work` calls `start` until it returns; the profile goes to `profilePath`. */
async function profiled(t: Target, profilePath: string, work: (start: () => Promise<void>) => Promise<void>): Promise<HotFunction[]> {
  const inspector = await Inspector.connect(t.server.inspectorUrl);
  try {
    await work(() => inspector.start());
    const cpuProfile = await inspector.stop();
    mkdirSync(join(profilePath, ".."), { recursive: true });
    writeFileSync(profilePath, JSON.stringify(cpuProfile));
    return hotFunctions(cpuProfile, 40);
  } finally {
    inspector.close();
  }
}

async function closeAll(sockets: BenchSocket[]): Promise<void> {
  await inParallel(sockets.length, 256, async (i) => sockets[i]!.close());
}

function log(text: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${text}`);
}

// ---- the run -------------------------------------------------------------------------------------

interface Results {
  startedAt: string;
  machine: { cpus: string; cores: number; memoryGB: number; node: string; loadBefore: number[]; loadAfter?: number[] };
  versions: Record<string, string>;
  sizes: typeof SIZES;
  memoryFloor?: Omit<ServerResults, "drain">;
  durableFloor?: ServerResults;
  /** The room floor (bench/floor `/room`): three DOs, three commits and four RPCs per message and receipt. */
  roomFloor?: Omit<ServerResults, "drain">;
  parley?: ServerResults & { setup: { registerPerSecond: number }; idle: IdleResult[]; profile?: HotFunction[] };
}

const outPath = option("--out", join(import.meta.dirname, "results", `load-${new Date().toISOString().replace(/[:.]/g, "-")}.json`));

async function main(): Promise<void> {
  const { createRequire } = await import("node:module");
  const require = createRequire(import.meta.url);
  const version = (name: string) => (require(`${name}/package.json`) as { version: string }).version;
  const results: Results = {
    startedAt: new Date().toISOString(),
    machine: { cpus: cpus()[0]?.model ?? "?", cores: cpus().length, memoryGB: Math.round(totalmem() / 2 ** 30), node: process.version, loadBefore: loadavg() },
    versions: { wrangler: version("wrangler"), workerd: version("workerd"), ws: version("ws") },
    sizes: SIZES,
  };
  const workDir = mkdtempSync(join(tmpdir(), "parley-bench-load-"));
  const running: RunningServer[] = [];
  const stopAll = async () => {
    for (const s of running.splice(0)) await s.server.stop();
    rmSync(workDir, { recursive: true, force: true });
  };
  process.once("SIGINT", () => void stopAll().then(() => process.exit(130)));
  try {
    if (!flag("--skip-floor")) {
      log("starting the floor Worker");
      const floor = await startFloor(workDir);
      running.push(floor);
      const floorDevices = Array.from({ length: SIZES.devices }, floorDevice);
      const memory = await connectAll({ label: "memory floor", server: floor, socketBase: `${floor.workerUrl}/memory`, devices: floorDevices });
      const { latency: mLat, throughput: mThr } = await runPhases(memory, false);
      results.memoryFloor = { latency: mLat, throughput: mThr };
      await closeAll(memory.sockets);
      const durable = await connectAll({ label: "two-DO floor", server: floor, socketBase: `${floor.workerUrl}/durable`, devices: floorDevices });
      results.durableFloor = await runPhases(durable, true);
      await closeAll(durable.sockets);
      // New devices: the two-DO floor's Boxes hold its rows, which a connect at cursor 0 would replay.
      const roomDevices = Array.from({ length: SIZES.devices }, floorDevice);
      const room = await connectAll({ label: "room floor", server: floor, socketBase: `${floor.workerUrl}/room`, devices: roomDevices });
      const { latency: rLat, throughput: rThr } = await runPhases(room, false);
      results.roomFloor = { latency: rLat, throughput: rThr };
      await closeAll(room.sockets);
      await floor.server.stop();
      running.splice(running.indexOf(floor), 1);
    }

    log("starting Parley");
    const parley = await startParley(workDir);
    running.push(parley);
    log(`registering ${SIZES.devices} accounts through the API`);
    const registerStart = performance.now();
    const devices: BenchDevice[] = new Array(SIZES.devices);
    const runId = Math.random().toString(36).slice(2, 8);
    await inParallel(SIZES.devices, SETUP_CONCURRENCY, async (i) => {
      devices[i] = await registerDevice(parley.workerUrl, `bench${runId}x${i}`);
    });
    const registerPerSecond = SIZES.devices / ((performance.now() - registerStart) / 1000);
    const target = await connectAll({ label: "Parley", server: parley, socketBase: parley.workerUrl, devices });
    const phases = await runPhases(target, true);
    let hot: HotFunction[] | undefined;
    if (flag("--profile")) {
      log("Parley: CPU profile under the throughput load");
      hot = await profile(target, outPath.replace(/\.json$/, ".cpuprofile"));
    }
    if (flag("--profile-drain")) {
      log(`Parley: CPU profile of another offline drain (${SIZES.drainCount})`);
      hot = await profileDrain(target, outPath.replace(/\.json$/, "-drain.cpuprofile"));
    }
    const idle: IdleResult[] = [];
    await closeAll(target.sockets);
    if (!flag("--skip-idle")) {
      await new Promise((resolve) => setTimeout(resolve, HIBERNATE_WAIT_MS));
      const baseline = { rss: processRssBytes(parley.workerPid), fds: processFds(parley.workerPid), maps: processMaps(parley.workerPid) };
      const open: BenchSocket[] = [];
      for (const total of SIZES.idle) {
        log(`Parley: idle sockets (${total})`);
        const result = await idleSockets(parley, open, total, baseline);
        idle.push(result);
        if (result.firstError) {
          log(`idle sockets: ${result.firstError}`);
          for (const line of result.serverErrors) log(`  server: ${line}`);
          break;
        }
      }
      await closeAll(open);
    }
    results.parley = { ...phases, setup: { registerPerSecond }, idle, ...(hot ? { profile: hot } : {}) };
  } finally {
    // Keep the servers' logs (why a connect was refused, errors under load) next to the results.
    for (const server of running) {
      const logPath = outPath.replace(/\.json$/, server.tokenSecret ? "-parley.log" : "-floor.log");
      mkdirSync(join(logPath, ".."), { recursive: true });
      writeFileSync(logPath, server.server.output());
    }
    await stopAll();
  }
  results.machine.loadAfter = loadavg();
  printTable(results);
  mkdirSync(join(outPath, ".."), { recursive: true });
  writeFileSync(outPath, JSON.stringify(results, null, 2) + "\n");
  log(`wrote ${outPath}`);
  if (failures.size > 0) log(`failed sends by status: ${JSON.stringify(Object.fromEntries(failures))}`);
}

// ---- output --------------------------------------------------------------------------------------

function printTable(r: Results): void {
  const p = r.parley;
  const d = r.durableFloor;
  const o = r.roomFloor;
  const m = r.memoryFloor;
  const fmt = (x: number | undefined, digits = 2) => (x === undefined || Number.isNaN(x) ? "-" : x >= 1000 ? Math.round(x).toLocaleString("en-US") : x.toFixed(digits));
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || !b ? "-" : `${(a / b).toFixed(2)}x`);
  // Each row: Parley, two-DO floor, room floor, memory floor.
  const rows: [string, number | undefined, number | undefined, number | undefined, number | undefined][] = [];
  type Phases = ServerResults | Omit<ServerResults, "drain">;
  const each = <T>(get: (s: Phases) => T | undefined) => [p && get(p), d && get(d), o && get(o), m && get(m)] as const;
  const pct = (name: string, get: (s: Phases) => Percentiles) => {
    for (const q of ["p50", "p90", "p99", "max"] as const) rows.push([`${name} ${q} (ms)`, ...each((s) => get(s)[q])]);
  };
  pct("1:1 latency, send->ack", (s) => s.latency.ack);
  pct("1:1 latency, send->deliver", (s) => s.latency.deliver);
  rows.push(["1:1 latency, server CPU/msg (µs)", ...each((s) => s.latency.cost.serverUs)]);
  rows.push(["1:1 latency, client CPU/msg (µs)", ...each((s) => s.latency.cost.clientUs)]);
  const stepRows = (phase: string, get: (s: Phases) => Cost) => {
    const steps: [keyof Steps, string][] = [["runs", "JS runs"], ["rpcs", "incoming RPCs"], ["commits", "write commits"], ["fsyncs", "fsyncs"], ["pwrites", "pwrite calls"]];
    if (![p, d, o, m].some((s) => s && get(s).steps)) return;
    for (const [key, name] of steps) rows.push([`${phase}, workerd ${name}/msg`, ...each((s) => get(s).steps?.[key])]);
  };
  stepRows("1:1 latency", (s) => s.latency.cost);
  rows.push(["throughput (msgs/s)", ...each((s) => s.throughput.msgsPerSecond)]);
  pct("under load, send->ack", (s) => s.throughput.ack);
  pct("under load, send->deliver", (s) => s.throughput.deliver);
  rows.push(["under load, server CPU/msg (µs)", ...each((s) => s.throughput.cost.serverUs)]);
  rows.push(["under load, client CPU/msg (µs)", ...each((s) => s.throughput.cost.clientUs)]);
  stepRows("under load", (s) => s.throughput.cost);
  const drainRow = (name: string, get: (dr: DrainResult) => number) => rows.push([name, p?.drain ? get(p.drain) : undefined, d?.drain ? get(d.drain) : undefined, undefined, undefined]);
  drainRow(`after the throughput phase: server CPU in the next ${DEFERRED_WORK_MS / 1000} s (ms)`, (dr) => dr.deferredCpuMs);
  drainRow("offline: queueing (msgs/s)", (dr) => dr.fillPerSecond);
  drainRow("offline: of which busy after the last ack (ms)", (dr) => dr.settleMs);
  drainRow("offline: server CPU after the last ack (ms)", (dr) => dr.settleCpuMs);
  drainRow(`offline: drain ${SIZES.drainCount} on connect (ms)`, (dr) => dr.drainMs);
  drainRow("offline: of which the upgrade (ms)", (dr) => dr.upgradeMs);

  // Ratios are Parley's to each floor; the room floor's own ratio to the two-DO floor is printed below the table.
  const header = ["", "Parley", "two-DO floor", "ratio", "room floor", "ratio", "memory floor", "ratio"];
  const lines = rows.map(([name, a, b, c, e]) => [name, fmt(a), fmt(b), ratio(a, b), fmt(c), ratio(a, c), fmt(e), ratio(a, e)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  console.log(`\n${r.machine.cores} x ${r.machine.cpus}, Node ${r.machine.node}, wrangler ${r.versions.wrangler}, workerd ${r.versions.workerd}`);
  console.log(`load average before ${r.machine.loadBefore.map((x) => x.toFixed(2)).join(" ")}, after ${r.machine.loadAfter?.map((x) => x.toFixed(2)).join(" ")}`);
  console.log(`${SIZES.devices} devices; ${SIZES.latencyCount} latency samples; ${SIZES.throughputCount} messages in the throughput phase\n`);
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`);
  for (const l of lines) console.log(line(l));
  if (o && d) {
    const t = (s: Phases) => s.throughput;
    console.log(
      `\nroom floor / two-DO floor: throughput ${ratio(t(o).msgsPerSecond, t(d).msgsPerSecond)}, ` +
        `under load send->ack p99 ${ratio(t(o).ack.p99, t(d).ack.p99)}, send->deliver p99 ${ratio(t(o).deliver.p99, t(d).deliver.p99)}`,
    );
  }
  if (stepCountingProblem) console.log(`\n--count-steps: ${stepCountingProblem}`);
  if (p?.throughput.failed) console.log(`\nParley: ${p.throughput.failed} sends failed under load`);
  if (p) console.log(`\nregistration: ${fmt(p.setup.registerPerSecond)} accounts/s`);
  if (p?.profile) {
    console.log("\nParley isolate, self time under the throughput load (profiled separately):");
    for (const f of p.profile) console.log(`  ${(f.share * 100).toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(6)} ms  ${f.name}`);
  }
  for (const i of p?.idle ?? []) {
    console.log(
      `idle: ${i.sockets} hibernated sockets on the Worker's workerd: ${fmt(i.rssPerSocketKB, 1)} KB RSS, ${fmt(i.fdsPerSocket)} fds and ${fmt(i.mapsPerSocket, 1)} memory mappings per socket ` +
        `(RSS ${fmt(i.workerRssMB, 0)} MB; connected ${fmt(i.connectPerSecond, 0)}/s; ${(i.pingsAnswered * 100).toFixed(0)}% of sampled pings answered)`,
    );
    if (i.firstError) console.log(`idle: stopped at the first refused connect: ${i.firstError}`);
  }
}

await main();
