/**
 * Primitives benchmark (`npm run bench:primitives`): the CPU one SQLite statement, a commit, a
 * Durable Object RPC and an entry's JSON cost in local workerd on this machine, so the per-message
 * counts of the load bench (docs/PERFORMANCE.md) read as microseconds. Starts bench/primitives
 * under wrangler dev (fresh state), asks it for N of each operation (one warm-up request first),
 * and divides the Worker's workerd CPU time (/proc) by N. Single statements run N to an event;
 * `rpc` is N round trips from the Worker to the object, `rpc_write` the same with one row written
 * per call, so each ends with a commit of its own: rpc_write - rpc is what a commit costs; rpc_read
 * is the same with one SELECT by key, which costs more as the first statement of an event than in a loop.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { processCpuMs, startPrimitives } from "./load/servers";

const N = Number(process.env.N ?? 20_000);
/** Operations that cost an event each (an RPC round trip) run fewer times. */
const PER_EVENT_N = Math.max(1, Math.floor(N / 4));
const ROUNDS = 3;

async function main() {
  const workDir = mkdtempSync(join(tmpdir(), "parley-primitives-"));
  const server = await startPrimitives(workDir);
  try {
    const operations = (await (await fetch(`${server.workerUrl}/operations`)).json()) as string[];
    console.log(`Parley primitives benchmark: ${cpus().length} x ${cpus()[0]?.model ?? "?"}, Node ${process.version}`);
    console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(" ")}; median of ${ROUNDS} requests after a warm-up\n`);
    const rows: [string, string, string][] = [["operation", "CPU µs/op", "wall µs/op"]];
    for (const operation of operations) {
      const n = operation.startsWith("rpc") ? PER_EVENT_N : N;
      const url = `${server.workerUrl}/${operation}?n=${n}`;
      const ok = await fetch(url);
      if (!ok.ok) throw new Error(`${operation}: ${ok.status} ${await ok.text()}`);
      const cpu: number[] = [];
      const wall: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const before = processCpuMs(server.workerPid);
        const start = performance.now();
        await (await fetch(url)).text();
        wall.push(((performance.now() - start) * 1000) / n);
        cpu.push(((processCpuMs(server.workerPid) - before) * 1000) / n);
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      rows.push([operation, median(cpu).toFixed(1), median(wall).toFixed(1)]);
    }
    const w = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
    for (const [a, b, c] of rows) console.log(`${a.padEnd(w[0]!)}  ${b.padStart(w[1]!)}  ${c.padStart(w[2]!)}`);
    console.log(`\nload average after: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  } finally {
    await server.server.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

await main();
