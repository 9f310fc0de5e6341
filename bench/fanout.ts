/**
 * Group fanout benchmark (`npm run bench:fanout`, issue 6): for groups of 32, 256 and 1,024
 * online single-device members on the local server (wrangler dev, started here with fresh state),
 * the time from a group send to the last member device receiving it (p50/p99 over repeated sends)
 * and deliveries per second (recipient devices / mean send-to-last-device time, one send at a time). Groups above GROUP_QUEUE_FANOUT_THRESHOLD (64) go through the fanout
 * queue; the 32-member group is the inline path. Figures and how to read them: docs/PERFORMANCE.md.
 *
 *   npm run bench:fanout                 sizes 32,256,1024
 *   npm run bench:fanout -- --sizes 32,256 --sends 10
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { BenchSocket, type BenchDevice, registerDevice } from "./load/client";
import { type RunningServer, startParley } from "./load/servers";

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const SIZES = option("--sizes", "32,256,1024").split(",").map(Number);
const SENDS = Number(option("--sends", "20"));
const SETUP_CONCURRENCY = 16;
const SEND_TIMEOUT_MS = 120_000;

function log(message: string): void {
  console.error(`[bench:fanout] ${message}`);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function inParallel<T>(count: number, run: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: SETUP_CONCURRENCY }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await run(i);
      }
    }),
  );
  return out;
}

async function post(server: RunningServer, token: string, path: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.workerUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

interface SizeResult {
  members: number;
  sends: number;
  p50Ms: number;
  p99Ms: number;
  ackP50Ms: number;
  deliveriesPerSecond: number;
}

/** Arrival times per msg_id, over every member socket. */
const arrivals = new Map<string, number[]>();

/** Every device but the sender online (before any group exists: no push jobs), each ACKing every entries frame. */
async function connectAll(server: RunningServer, devices: BenchDevice[]): Promise<BenchSocket[]> {
  return inParallel(devices.length, (i) =>
    BenchSocket.open(server.workerUrl, devices[i]!, 0, {
      result: () => {},
      message: (msgId, at) => {
        let list = arrivals.get(msgId);
        if (!list) arrivals.set(msgId, (list = []));
        list.push(at);
      },
    }),
  );
}

/** One group of `size` members (devices[0] sends); SENDS sends one after another, plus one warm-up. */
async function measure(server: RunningServer, devices: BenchDevice[], size: number): Promise<SizeResult> {
  const [sender, ...members] = devices.slice(0, size);
  const created = await post(server, sender!.token, "/v1/groups", { name: `bench ${size}`, members: members.map((m) => m.accountId) });
  if (created.status !== 201) throw new Error(`group create: ${created.status} ${JSON.stringify(created.json).slice(0, 300)}`);
  const chatId = created.json.chat_id as string;
  const keyHolders = members.map((m) => ({ account_id: m.accountId, device_id: 1, registration_id: m.registrationId }));
  const content = randomBytes(256).toString("base64");

  const latencies: number[] = [];
  const acks: number[] = [];
  for (let s = 0; s <= SENDS; s++) {
    const msgId = `bench-${size}-${s}-${randomBytes(4).toString("hex")}`;
    const start = performance.now();
    const sent = await post(server, sender!.token, `/v1/groups/${chatId}/messages`, { msg_id: msgId, content, key_holders: keyHolders, distributions: [] });
    if (sent.status !== 200) throw new Error(`group send: ${sent.status} ${JSON.stringify(sent.json).slice(0, 300)}`);
    const ackAt = performance.now();
    const deadline = Date.now() + SEND_TIMEOUT_MS;
    while ((arrivals.get(msgId)?.length ?? 0) < members.length) {
      if (Date.now() > deadline) throw new Error(`send ${s}: ${arrivals.get(msgId)?.length ?? 0}/${members.length} devices after ${SEND_TIMEOUT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    if ((arrivals.get(msgId)?.length ?? 0) !== members.length) throw new Error(`send ${s}: a device received it twice`);
    const last = Math.max(...arrivals.get(msgId)!);
    // Send 0 warms the path up (first queue batch, first entries frame); it is not counted.
    if (s > 0) {
      latencies.push(last - start);
      acks.push(ackAt - start);
    }
  }
  latencies.sort((a, b) => a - b);
  acks.sort((a, b) => a - b);
  const meanSeconds = latencies.reduce((a, b) => a + b, 0) / latencies.length / 1000;
  return {
    members: size,
    sends: SENDS,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    ackP50Ms: percentile(acks, 50),
    deliveriesPerSecond: (size - 1) / meanSeconds,
  };
}

async function main(): Promise<void> {
  const workDir = mkdtempSync(join(tmpdir(), "parley-bench-fanout-"));
  let server: RunningServer | undefined;
  try {
    log("starting Parley");
    server = await startParley(workDir);
    const largest = Math.max(...SIZES);
    log(`registering ${largest} accounts through the API`);
    const runId = randomBytes(3).toString("hex");
    const devices = await inParallel(largest, (i) => registerDevice(server!.workerUrl, `fan${runId}x${i}`));
    log(`connecting ${largest - 1} member sockets`);
    const sockets = await connectAll(server, devices.slice(1));
    const results: SizeResult[] = [];
    for (const size of SIZES) {
      log(`group of ${size}: ${SENDS} sends`);
      results.push(await measure(server, devices, size));
    }
    await Promise.all(sockets.map((socket) => socket.close()));
    console.log(`\nmachine: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), load ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
    console.log("members | send -> last device p50 | p99 | ack p50 | deliveries/s");
    for (const r of results) {
      console.log(`${String(r.members).padStart(7)} | ${r.p50Ms.toFixed(1).padStart(10)} ms | ${r.p99Ms.toFixed(1).padStart(7)} ms | ${r.ackP50Ms.toFixed(1).padStart(6)} ms | ${r.deliveriesPerSecond.toFixed(0)}`);
    }
    console.log(JSON.stringify({ when: new Date().toISOString(), sends: SENDS, results }));
  } catch (err) {
    // The server's own log tells why it went away (wrangler dev prints workerd's errors).
    if (server) console.error(server.server.output().split("\n").slice(-60).join("\n"));
    throw err;
  } finally {
    await server?.server.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

await main();
