/**
 * Media benchmark (`npm run bench:media`): one 64 MiB file (MEDIA_MIB to change it) on disk, sent
 * as an app would (`fs.openAsBlob`), encrypted while uploading through the real Worker (wrangler
 * dev, local R2; multipart with the default 8 MiB parts) and downloaded + verified + decrypted
 * while streaming, with the client's memory sampled every 20 ms, upload and download separately.
 * No forced GC in the measured path. The receiver saves the file as `parley download` does
 * (src/cli/files.ts saveStream, which frees each plaintext piece once written). The SDK frees or
 * reuses the buffers it makes for itself (src/client/release-buffer.ts), uploads and downloads
 * through node:http (src/client/node-media-http.ts). MEDIA_DROP=1 makes the receiving app drop
 * each piece instead (V8 then collects the 64 MiB of plaintext garbage in its own time, once ~30
 * MiB of dead ArrayBuffers have piled up: the buffers figure after an explicit GC at the end shows
 * what stays alive); MEDIA_APP_FREES=1 makes it free each piece once counted.
 * Then the same with the `parley` CLI, each command its own process: `send-file` and `download` of
 * a 1 MiB and a FILE_MIB file, with the kernel's peak RSS of each process (getrusage maxrss, written
 * at exit by a preload), so the memory a larger file costs a whole client process is the
 * difference between the two sizes. The bench runs with --expose-gc only to collect once before the
 * SDK baseline. The server runs on the same 2 cores, so the MB/s include its work. Results:
 * docs/PERFORMANCE.md.
 */
import { openAsBlob } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { Client, MemoryKeyValueStore, type WebSocketConstructor } from "../src/client/index";
import { releaseBuffer } from "../src/client/release-buffer";
import { saveStream } from "../src/cli/files";
import { parleyWithEnv } from "../test/node/support/cli";
import { freePort, LocalServer } from "../test/node/support/server";

const MIB = 1024 * 1024;
const FILE_MIB = Number(process.env.MEDIA_MIB ?? 64);

/** Writes a test file of `mib` MiB (before anything is measured); its path. */
async function writeTestFile(dir: string, mib: number): Promise<string> {
  const path = join(dir, `file-${mib}.bin`);
  const piece = new Uint8Array(MIB);
  await writeFile(path, (async function* () {
    for (let i = 0; i < mib; i++) yield piece.fill(i & 0xff);
  })());
  return path;
}

async function fileOf(dir: string, mib: number): Promise<Blob> {
  return openAsBlob(await writeTestFile(dir, mib));
}

/**
 * Runs a `parley` command in its own process and returns its kernel peak RSS in MiB: a preload
 * writes `process.resourceUsage().maxRSS` (getrusage, KiB) when the process exits.
 */
async function cliPeak(dir: string, server: string, home: string, ...args: string[]): Promise<{ peakMib: number; lines: Record<string, unknown>[] }> {
  const preload = join(dir, "report-max-rss.cjs");
  const report = join(dir, "max-rss.txt");
  await writeFile(preload, `process.on("exit", () => require("node:fs").writeFileSync(${JSON.stringify(report)}, String(process.resourceUsage().maxRSS)));\n`);
  await rm(report, { force: true });
  // The bench's own NODE_OPTIONS (e.g. a V8 heap setting under test) apply to the CLI too.
  const nodeOptions = `${process.env.NODE_OPTIONS ?? ""} --require ${preload}`.trim();
  const result = await parleyWithEnv({ ...process.env, NODE_OPTIONS: nodeOptions }, server, home, ...args);
  if (result.code !== 0) throw new Error(`parley ${args.join(" ")} failed: ${result.stderr}`);
  return { peakMib: Number(await readFile(report, "utf8")) / 1024, lines: result.lines };
}

/** send-file and download of a 1 MiB and a FILE_MIB file through the CLI: each process's peak RSS. */
async function cliRuns(dir: string, server: string): Promise<void> {
  const alice = join(dir, "cli-alice");
  const bob = join(dir, "cli-bob");
  const bobHandle = `clibob${Date.now() % 1e6}`;
  await cliPeak(dir, server, alice, "register", `clialice${Date.now() % 1e6}`);
  await cliPeak(dir, server, bob, "register", bobHandle);
  const peaks: Record<string, { send: number; download: number }> = {};
  for (const mib of [1, FILE_MIB]) {
    const path = await writeTestFile(dir, mib);
    const sent = await cliPeak(dir, server, alice, "send-file", bobHandle, path);
    await cliPeak(dir, server, bob, "recv", "--timeout", "1");
    const got = await cliPeak(dir, server, bob, "download", String(sent.lines[0]!.msg_id), join(dir, `cli-downloaded-${mib}.bin`));
    if (got.lines[0]?.bytes !== mib * MIB) throw new Error(`parley download wrote ${String(got.lines[0]?.bytes)} bytes`);
    peaks[mib] = { send: sent.peakMib, download: got.peakMib };
  }
  const small = peaks[1]!;
  const large = peaks[FILE_MIB]!;
  console.log(`parley CLI, peak RSS of each process (getrusage maxrss):`);
  console.log(`  send-file: 1 MiB file ${small.send.toFixed(1)} MiB, ${FILE_MIB} MiB file ${large.send.toFixed(1)} MiB (${signed((large.send - small.send) * MIB)} MiB for the larger file)`);
  console.log(`  download:  1 MiB file ${small.download.toFixed(1)} MiB, ${FILE_MIB} MiB file ${large.download.toFixed(1)} MiB (${signed((large.download - small.download) * MIB)} MiB for the larger file)`);
}

/** MEDIA_DROP=1: the receiving app counts each plaintext piece and drops it (the garbage is left to V8). */
const DROP = process.env.MEDIA_DROP === "1";

/** MEDIA_APP_FREES=1: the receiving app frees each plaintext piece once counted (what an app may do with pieces it owns). */
const APP_FREES = process.env.MEDIA_APP_FREES === "1";

/**
 * MEDIA_VIA_FETCH=1: the receiving app hands the SDK its own fetch (the global one), so downloads
 * go through fetch (undici) instead of node:http, for comparing the two in one build.
 */
const VIA_FETCH = process.env.MEDIA_VIA_FETCH === "1";

/** MEDIA_LIVE=1 (with node --expose-gc): collect before each sample, so peaks show live memory only. */
const LIVE_ONLY = process.env.MEDIA_LIVE === "1";
if (LIVE_ONLY && !globalThis.gc) throw new Error("MEDIA_LIVE=1 needs node --expose-gc (NODE_OPTIONS=--expose-gc)");

let peak = { rss: 0, heap: 0, external: 0 };
function sample(): void {
  if (LIVE_ONLY) globalThis.gc!();
  const m = process.memoryUsage();
  peak.rss = Math.max(peak.rss, m.rss);
  peak.heap = Math.max(peak.heap, m.heapUsed);
  // `external` already includes `arrayBuffers` (Node's accounting).
  peak.external = Math.max(peak.external, m.external);
}
const mb = (n: number) => (n / MIB).toFixed(1);
const signed = (n: number) => `${n >= 0 ? "+" : ""}${mb(n)}`;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "parley-bench-media-"));
  // Files above the default 100 MiB limit need the limit raised for this server only.
  const limit = Math.max(100 * MIB, FILE_MIB * MIB + MIB);
  const server = new LocalServer(await freePort(), join(dir, "state"), { wranglerArgs: ["--var", `MEDIA_MAX_BYTES:${limit}`] });
  await server.start();
  try {
    const WS = WebSocket as unknown as WebSocketConstructor;
    const alice = await Client.register({ server: server.url, store: new MemoryKeyValueStore(), handle: `benchalice${Date.now() % 1e6}`, WebSocket: WS });
    const bob = await Client.register({ server: server.url, store: new MemoryKeyValueStore(), handle: `benchbob${Date.now() % 1e6}`, WebSocket: WS, ...(VIA_FETCH ? { fetch: (url: string, init?: RequestInit) => globalThis.fetch(url, init) } : {}) });
    // Warm-up: JIT, key caches, the Worker's first requests.
    const warm = await alice.sendFile(bob.account.handle, await fileOf(dir, 1), { mime: "application/octet-stream" });
    for await (const _ of bob.downloadFile(warm.file)) void _;
    const big = await fileOf(dir, FILE_MIB);
    globalThis.gc?.();
    const base = process.memoryUsage();
    const timer = setInterval(sample, 20);
    if (LIVE_ONLY) console.log("MEDIA_LIVE=1: a full GC before every sample (live memory, not what a normal process peaks at)");
    if (APP_FREES) console.log("MEDIA_APP_FREES=1: the app frees each downloaded plaintext piece once it has counted it");
    if (VIA_FETCH) console.log("MEDIA_VIA_FETCH=1: downloads through the app's fetch (undici), not node:http");
    if (!DROP && !APP_FREES) console.log("the download is saved to a file as `parley download` saves it (MEDIA_DROP=1 or MEDIA_APP_FREES=1: an app that takes the pieces itself)");
    if (DROP) console.log("MEDIA_DROP=1: the app drops each downloaded plaintext piece once it has counted it");
    console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);

    const t0 = performance.now();
    const { file } = await alice.sendFile(bob.account.handle, big, { mime: "video/mp4" });
    const t1 = performance.now();
    sample();
    const upPeak = peak;
    // What the upload left behind (dead buffers not yet collected among it) counts in the download's
    // peak over the baseline; the growth over this shows the download's own share.
    const downStart = process.memoryUsage();
    peak = { rss: 0, heap: 0, external: 0 };
    let bytes = 0;
    if (!DROP && !APP_FREES) bytes = await saveStream(bob.downloadFile(file), join(dir, "downloaded.bin"));
    else {
      for await (const piece of bob.downloadFile(file)) {
        bytes += piece.length;
        if (APP_FREES) releaseBuffer(piece);
      }
    }
    const t2 = performance.now();
    clearInterval(timer);
    sample();
    const downPeak = peak;
    if (bytes !== FILE_MIB * MIB) throw new Error(`downloaded ${bytes} bytes`);

    const up = (FILE_MIB * MIB) / 1e6 / ((t1 - t0) / 1000);
    const down = (FILE_MIB * MIB) / 1e6 / ((t2 - t1) / 1000);
    console.log(`file: ${FILE_MIB} MiB plaintext, ${mb(file.cipher_size)} MiB ciphertext`);
    console.log(`upload   (encrypt + PUT parts):             ${up.toFixed(1)} MB/s  (${((t1 - t0) / 1000).toFixed(2)} s)`);
    console.log(`download (GET + verify + decrypt, streamed): ${down.toFixed(1)} MB/s  (${((t2 - t1) / 1000).toFixed(2)} s)`);
    console.log(`client memory before: rss ${mb(base.rss)} MiB, heap ${mb(base.heapUsed)} MiB, buffers ${mb(base.external)} MiB`);
    console.log(`client peak, upload:   rss ${mb(upPeak.rss)} MiB, heap ${mb(upPeak.heap)} MiB, buffers ${mb(upPeak.external)} MiB`);
    console.log(`client peak, download: rss ${mb(downPeak.rss)} MiB, heap ${mb(downPeak.heap)} MiB, buffers ${mb(downPeak.external)} MiB`);
    const rss = Math.max(upPeak.rss, downPeak.rss);
    console.log(`peak growth over baseline: rss +${mb(rss - base.rss)} MiB, buffers +${mb(Math.max(upPeak.external, downPeak.external) - base.external)} MiB (file: ${FILE_MIB} MiB)`);
    console.log(`  upload alone: rss +${mb(upPeak.rss - base.rss)} MiB, buffers +${mb(upPeak.external - base.external)} MiB; download alone: rss +${mb(downPeak.rss - base.rss)} MiB, buffers +${mb(downPeak.external - base.external)} MiB`);
    console.log(`  download over the memory at its start (what the upload left counted out): rss ${signed(downPeak.rss - downStart.rss)} MiB, buffers ${signed(downPeak.external - downStart.external)} MiB`);
    if (globalThis.gc) {
      globalThis.gc();
      console.log(`after an explicit GC (not in the measured path): buffers ${mb(process.memoryUsage().external)} MiB`);
    }
    await alice.close();
    await bob.close();
    await cliRuns(dir, server.url);
    console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
