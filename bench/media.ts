/**
 * Media benchmark (`npm run bench:media`): one 64 MiB file (MEDIA_MIB to change it) encrypted while
 * uploading through the real Worker (wrangler dev, local R2; multipart with the default 8 MiB parts)
 * and downloaded + verified + decrypted while streaming, with the client's memory sampled every
 * 20 ms. The point of the memory figures: they do not grow with the file (compare MEDIA_MIB=64
 * and MEDIA_MIB=256): heap stays flat, and buffers peak at what V8 lets accumulate as garbage
 * before it collects external memory, plus one upload part.
 * The server runs on the same 2 cores, so the MB/s include its work. Results: docs/PERFORMANCE.md.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { Client, MemoryKeyValueStore, type WebSocketConstructor } from "../src/client/index";
import { freePort, LocalServer } from "../test/node/support/server";

const MIB = 1024 * 1024;
const FILE_MIB = Number(process.env.MEDIA_MIB ?? 64);

async function* source(mib: number): AsyncGenerator<Uint8Array> {
  // A fresh buffer per piece, as a file stream gives: the client must not keep them.
  for (let i = 0; i < mib; i++) yield new Uint8Array(MIB).fill(i & 0xff);
}

const peak = { rss: 0, heap: 0, external: 0 };
function sample(): void {
  const m = process.memoryUsage();
  peak.rss = Math.max(peak.rss, m.rss);
  peak.heap = Math.max(peak.heap, m.heapUsed);
  // `external` already includes `arrayBuffers` (Node's accounting).
  peak.external = Math.max(peak.external, m.external);
}
const mb = (n: number) => (n / MIB).toFixed(1);

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "parley-bench-media-"));
  // Files above the default 100 MiB limit need the limit raised for this server only.
  const limit = Math.max(100 * MIB, FILE_MIB * MIB + MIB);
  const server = new LocalServer(await freePort(), join(dir, "state"), { wranglerArgs: ["--var", `MEDIA_MAX_BYTES:${limit}`] });
  await server.start();
  try {
    const WS = WebSocket as unknown as WebSocketConstructor;
    const alice = await Client.register({ server: server.url, store: new MemoryKeyValueStore(), handle: `benchalice${Date.now() % 1e6}`, WebSocket: WS });
    const bob = await Client.register({ server: server.url, store: new MemoryKeyValueStore(), handle: `benchbob${Date.now() % 1e6}`, WebSocket: WS });
    // Warm-up: JIT, key caches, the Worker's first requests.
    await alice.sendFile(bob.account.handle, source(1), { mime: "application/octet-stream", size: MIB });
    globalThis.gc?.();
    const base = process.memoryUsage();
    const timer = setInterval(sample, 20);
    console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);

    const t0 = performance.now();
    const { file } = await alice.sendFile(bob.account.handle, source(FILE_MIB), { mime: "video/mp4", size: FILE_MIB * MIB });
    const t1 = performance.now();
    let bytes = 0;
    for await (const piece of bob.downloadFile(file)) bytes += piece.length;
    const t2 = performance.now();
    clearInterval(timer);
    sample();
    if (bytes !== FILE_MIB * MIB) throw new Error(`downloaded ${bytes} bytes`);

    const up = (FILE_MIB * MIB) / 1e6 / ((t1 - t0) / 1000);
    const down = (FILE_MIB * MIB) / 1e6 / ((t2 - t1) / 1000);
    console.log(`file: ${FILE_MIB} MiB plaintext, ${mb(file.cipher_size)} MiB ciphertext`);
    console.log(`upload   (encrypt + PUT parts):             ${up.toFixed(1)} MB/s  (${((t1 - t0) / 1000).toFixed(2)} s)`);
    console.log(`download (GET + verify + decrypt, streamed): ${down.toFixed(1)} MB/s  (${((t2 - t1) / 1000).toFixed(2)} s)`);
    console.log(`client memory before: rss ${mb(base.rss)} MiB, heap ${mb(base.heapUsed)} MiB, buffers ${mb(base.external)} MiB`);
    console.log(`client peak:          rss ${mb(peak.rss)} MiB, heap ${mb(peak.heap)} MiB, buffers ${mb(peak.external)} MiB`);
    console.log(`peak growth over baseline: rss +${mb(peak.rss - base.rss)} MiB (file: ${FILE_MIB} MiB)`);
    console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
    await alice.close();
    await bob.close();
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
