/**
 * @module The two servers the load benchmark drives, and what it reads about them from outside:
 * Parley under a generated wrangler config (the repository's wrangler.toml with the rate limits
 * raised, since one machine plays hundreds of devices from one IP), the floor Worker
 * (bench/floor), the Worker's own workerd port (behind wrangler's proxy) and the CPU time and
 * memory of each workerd process from /proc. Linux only, loopback only.
 */
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, LocalServer } from "../../test/node/support/server";

const root = join(import.meta.dirname, "..", "..");

/** Limits and lifetimes the benchmark overrides, and why. */
const BENCH_OVERRIDES: [RegExp, string][] = [
  // Paths in wrangler.toml are relative to it; the generated copy lives in a temporary directory.
  [/^main = "src\/index.ts"$/m, `main = ${JSON.stringify(join(root, "src", "index.ts"))}`],
  [/^migrations_dir = "migrations"$/m, `migrations_dir = ${JSON.stringify(join(root, "migrations"))}`],
  [/^directory = "\.\/web\/dist"$/m, `directory = ${JSON.stringify(join(root, "web", "dist"))}`],
  // Registration and auth: hundreds of accounts from one IP within a minute.
  [/^simple = \{ limit = 100, period = 60 \}$/m, `simple = { limit = 1000000, period = 60 }`],
  // Sends: one bench device sends far more than a person in 10 s.
  [/^simple = \{ limit = 600, period = 10 \}$/m, `simple = { limit = 1000000, period = 10 }`],
  // Sends into one chat: a bench pair sends far more than a person in a minute (the ChatRoom's
  // exact per-chat limit, issue 11).
  [/^SENDS_PER_CHAT_PER_MINUTE = "1000"$/m, `SENDS_PER_CHAT_PER_MINUTE = "100000"`],
  // A full run takes longer than the default 10-minute token lifetime; 3600 is the allowed maximum.
  [/^AUTH_TOKEN_TTL_SECONDS = "600"$/m, `AUTH_TOKEN_TTL_SECONDS = "3600"`],
];

/** wrangler.toml with BENCH_OVERRIDES applied; throws if wrangler.toml no longer has a line it edits. */
export function benchWranglerConfig(): string {
  let text = readFileSync(join(root, "wrangler.toml"), "utf8");
  for (const [pattern, replacement] of BENCH_OVERRIDES) {
    if (!pattern.test(text)) throw new Error(`wrangler.toml has no line matching ${pattern}: update bench/load/servers.ts`);
    text = text.replace(pattern, replacement);
  }
  return text;
}

export interface RunningServer {
  /** Base URL of the Worker's own workerd (no proxy): what the benchmark connects to. */
  workerUrl: string;
  /** Base URL of wrangler's proxy (the public port). */
  proxyUrl: string;
  /** The Worker isolate's inspector (Chrome DevTools Protocol), for CPU profiles. */
  inspectorUrl: string;
  workerPid: number;
  proxyPid: number | null;
  server: LocalServer;
  /** Only for Parley: the token secret, to mint tokens for synthetic idle devices. */
  tokenSecret: string | null;
}

/** Parley with the benchmark's config, fresh state in `workDir`. */
export async function startParley(workDir: string): Promise<RunningServer> {
  // wrangler refuses to start without the web client's assets directory (wrangler.toml [assets]).
  if (!existsSync(join(root, "web", "dist", "index.html"))) {
    const build = spawnSync(process.execPath, [join(root, "scripts", "build-web.mjs")], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
    if (build.status !== 0) throw new Error("building the web client (scripts/build-web.mjs) failed");
  }
  const config = join(workDir, "parley.wrangler.toml");
  writeFileSync(config, benchWranglerConfig());
  const tokenSecret = randomBytes(32).toString("hex");
  const server = new LocalServer(await freePort(), join(workDir, "parley-state"), {
    config,
    wranglerArgs: ["--var", `AUTH_TOKEN_SECRET:${tokenSecret}`],
  });
  return { ...(await started(server)), tokenSecret };
}

/** The floor Worker (bench/floor), fresh state in `workDir`. */
export function startFloor(workDir: string): Promise<RunningServer> {
  return startBenchWorker(workDir, "floor");
}

/** The primitives benchmark's Worker (bench/primitives), fresh state in `workDir`. */
export function startPrimitives(workDir: string): Promise<RunningServer> {
  return startBenchWorker(workDir, "primitives");
}

/** A Worker of bench/<name> under its own wrangler.toml, answering GET /health, with fresh state. */
async function startBenchWorker(workDir: string, name: "floor" | "primitives"): Promise<RunningServer> {
  const server = new LocalServer(await freePort(), join(workDir, `${name}-state`), {
    config: join(root, "bench", name, "wrangler.toml"),
    migrate: false,
    healthPath: "/health",
  });
  return { ...(await started(server, "/health")), tokenSecret: null };
}

async function started(server: LocalServer, healthPath = "/v1/health"): Promise<Omit<RunningServer, "tokenSecret">> {
  await server.start(180_000);
  const processes = workerdProcesses(server.processGroup!);
  const worker = processes.find((p) => p.cmdline.includes("--socket-addr=entry=127.0.0.1:0"));
  const proxy = processes.find((p) => p !== worker);
  if (!worker) throw new Error("cannot find the Worker's workerd process");
  // The bench connects to the Worker's own port: the proxy in front of it costs time per frame and
  // ~6 fds per socket (docs/PERFORMANCE.md). It was read from wrangler's debug log, but that log
  // prints every inspector message (a console.log per send), which cost the two cores a fifth of
  // one: the port is found among the workerd process's listening sockets instead.
  const port = await workerPort(worker.pid, healthPath);
  return {
    workerUrl: `http://127.0.0.1:${port}`,
    proxyUrl: server.url,
    // wrangler's inspector proxy, not the runtime's own inspector: wrangler holds that connection
    // and restarts the Worker's process when another client takes it over.
    inspectorUrl: `ws://127.0.0.1:${server.inspectorPort}`,
    workerPid: worker.pid,
    proxyPid: proxy?.pid ?? null,
    server,
  };
}

/** The listening port of workerd process `pid` that answers `healthPath` with 200. */
async function workerPort(pid: number, healthPath: string): Promise<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // The descriptor closed while we looked.
    }
  }
  const ports: number[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; state 0A is LISTEN; field 9 is the socket's inode.
      if (fields.length > 9 && fields[3] === "0A" && inodes.has(fields[9]!)) ports.push(parseInt(fields[1]!.split(":")[1]!, 16));
    }
  }
  for (const port of ports) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}${healthPath}`, { signal: AbortSignal.timeout(5000) })).ok) return port;
    } catch {
      // Not an HTTP port of the Worker (the runtime's own inspector, for one).
    }
  }
  throw new Error(`no listening port of workerd ${pid} answers ${healthPath} (found ${ports.join(", ") || "none"})`);
}

function workerdProcesses(group: number): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = parseStat(readFileSync(`/proc/${entry}/stat`, "utf8"));
      if (stat.comm !== "workerd" || stat.pgrp !== group) continue;
      found.push({ pid: Number(entry), cmdline: readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ") });
    } catch {
      // The process exited while we looked.
    }
  }
  return found;
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

function parseStat(text: string): { comm: string; pgrp: number; cpuMs: number } {
  // comm is in parentheses and may contain spaces: split after the last ')'.
  const close = text.lastIndexOf(")");
  const comm = text.slice(text.indexOf("(") + 1, close);
  const fields = text.slice(close + 2).split(" ");
  // fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
  const tick = (field: number) => Number(fields[field - 3]);
  return { comm, pgrp: tick(5), cpuMs: ((tick(14) + tick(15)) * 1000) / USER_HZ };
}

/** User + system CPU time of a process so far, in ms (10 ms resolution). */
export function processCpuMs(pid: number): number {
  return parseStat(readFileSync(`/proc/${pid}/stat`, "utf8")).cpuMs;
}

/** Memory mappings of a process (Linux refuses new ones past vm.max_map_count; malloc then fails). */
export function processMaps(pid: number): number {
  return readFileSync(`/proc/${pid}/maps`, "utf8").split("\n").length - 1;
}

/** vm.max_map_count: the most memory mappings one process may hold. */
export function maxMapCount(): number {
  return Number(readFileSync("/proc/sys/vm/max_map_count", "utf8").trim());
}

/** The process's limit on open file descriptors ("Max open files", soft limit). */
export function processFdLimit(pid: number): number {
  const match = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
  return match ? Number(match[1]) : NaN;
}

/** Resident memory of a process, in bytes. */
export function processRssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) * 1024 : 0;
}

/** Open file descriptors of a process. */
export function processFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
