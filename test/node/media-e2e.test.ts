/**
 * Issue 8 end to end against wrangler dev (local R2 and D1), through the SDK and the CLI: files of
 * 1 MiB and 64 MiB sent and received with bytes equal after decryption (64 MiB streamed on both
 * sides, compared by hash), a plaintext marker never found anywhere in the server's state, a
 * tampered, truncated or swapped blob refused by the SDK, downloads without a valid capability
 * refused (and allowed, with the device token, to members of the chat once the capability has
 * expired), a multipart upload that loses a part mid-way resumes (in the process, and from the
 * store in a new client after the first one gave up), and send-file / recv --save-dir / download
 * in the CLI. A client given no fetch downloads through node:http (node-media-http.ts), one given
 * its own fetch through that: same bytes, same errors.
 */
import { createHash } from "node:crypto";
import { open, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FetchLike } from "../../src/client/api";
import { CryptoError } from "../../src/client/crypto/errors";
import { MEDIA_HEADER_BYTES } from "../../src/client/crypto/media";
import { Client, type ClientEventOf, type FileAttachment, MemoryKeyValueStore, ParleyApiError, TransportError, type WebSocketConstructor } from "../../src/client/index";
import { parley } from "./support/cli";
import { filesUnder } from "./support/files";
import { serverForThisFile } from "./support/suite-server";

const MIB = 1024 * 1024;
const WS = WebSocket as unknown as WebSocketConstructor;
const MARKER = Buffer.from("PARLEY-PLAINTEXT-MARKER-7f3a");

const { server, workDir } = serverForThisFile("media");

/** Deterministic plaintext piece i (1 MiB): the marker, then counter-derived bytes. */
function piece(i: number, size = MIB): Uint8Array {
  const out = Buffer.alloc(size);
  for (let o = 0; o < size; o += 4096) {
    MARKER.copy(out, o);
    out.writeUInt32BE(i * 256 + o / 4096, Math.min(o + MARKER.length, size - 4));
  }
  return out;
}

async function* generated(mib: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < mib; i++) yield piece(i);
}

function whole(mib: number): Uint8Array {
  return Buffer.concat(Array.from({ length: mib }, (_, i) => piece(i)));
}

async function sha256(source: AsyncIterable<Uint8Array>): Promise<{ hash: string; bytes: number }> {
  const h = createHash("sha256");
  let bytes = 0;
  for await (const p of source) {
    h.update(p);
    bytes += p.length;
  }
  return { hash: h.digest("hex"), bytes };
}

let counter = 0;
const handle = (name: string) => `${name}${++counter}x${Math.floor(Math.random() * 1e6)}`;

/** A fetch the test can corrupt: `rewrite` sees every media response before the SDK does. */
function interceptingFetch() {
  const hooks: { rewrite?: (url: string, res: Response) => Promise<Response>; request?: (url: string, init?: RequestInit) => void } = {};
  const fetchImpl: FetchLike = async (url, init) => {
    hooks.request?.(url, init);
    const res = await globalThis.fetch(url, init);
    return hooks.rewrite && url.includes("/v1/media/") ? hooks.rewrite(url, res) : res;
  };
  return { hooks, fetchImpl };
}


/** Scans a file in 4 MiB windows (with overlap) for the marker, without reading it whole. */
async function fileContains(path: string, needle: Buffer): Promise<boolean> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(4 * MIB + needle.length);
    for (let pos = 0; ; pos += 4 * MIB) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) return false;
      if (buf.subarray(0, bytesRead).includes(needle)) return true;
      if (bytesRead < buf.length) return false;
    }
  } finally {
    await fh.close();
  }
}

describe("files through the SDK", () => {
  let alice: Client;
  let bob: Client;
  /** A device that leaves fetch to the SDK, so its downloads go through node:http (node-media-http.ts); in no chat. */
  let outsider: Client;
  const bobNet = interceptingFetch();
  const aliceNet = interceptingFetch();
  const received: ClientEventOf<"message">[] = [];
  let small: FileAttachment;
  let large: FileAttachment;

  async function nextFile(count: number): Promise<ClientEventOf<"message">> {
    const deadline = Date.now() + 30_000;
    while (received.length < count) {
      if (Date.now() > deadline) throw new Error("no file message arrived");
      await new Promise((r) => setTimeout(r, 50));
    }
    return received[count - 1]!;
  }

  beforeAll(async () => {
    alice = await Client.register({ server: server().url, store: new MemoryKeyValueStore(), handle: handle("alice"), WebSocket: WS, fetch: aliceNet.fetchImpl });
    bob = await Client.register({ server: server().url, store: new MemoryKeyValueStore(), handle: handle("bob"), WebSocket: WS, fetch: bobNet.fetchImpl });
    outsider = await Client.register({ server: server().url, store: new MemoryKeyValueStore(), handle: handle("eve"), WebSocket: WS });
    bob.on("message", (e) => received.push(e));
    bob.connect();
  }, 60_000);

  afterAll(async () => {
    await alice?.close();
    await bob?.close();
    await outsider?.close();
  });

  it("sends a 1 MiB file with caption and thumbnail; the receiver gets the metadata and equal bytes", async () => {
    const plain = whole(1);
    const thumb = new Uint8Array([1, 2, 3, 4]);
    const { ack, file } = await alice.sendFile(bob.account.handle, plain, { mime: "application/pdf", name: "a.pdf", caption: "the report", thumbnail: { mime: "image/jpeg", data: thumb } });
    expect(ack.chat_seq).toBe(1);
    const event = await nextFile(1);
    expect(event.text).toBe("the report");
    expect(event.file).toMatchObject({ media_id: file.media_id, size: MIB, mime: "application/pdf", name: "a.pdf", content_class: "document", thumbnail: { mime: "image/jpeg", data: "AQIDBA==" } });
    small = event.file!;
    const pieces: Uint8Array[] = [];
    for await (const p of bob.downloadFile(small)) pieces.push(p);
    const got = Buffer.concat(pieces);
    expect(got.equals(Buffer.from(plain))).toBe(true);
    // By msg_id too (the CLI's `download`).
    expect((await sha256(bob.downloadFile(event.msg_id))).bytes).toBe(MIB);
  }, 60_000);

  it("streams 64 MiB up (multipart) and down with equal bytes, and serves plaintext ranges", async () => {
    let lastProgress = 0;
    const { file } = await alice.sendFile(bob.account.handle, generated(64), { mime: "video/mp4", size: 64 * MIB, onProgress: (sent) => (lastProgress = sent) });
    expect(lastProgress).toBe(64 * MIB);
    const event = await nextFile(2);
    large = event.file!;
    expect(large).toMatchObject({ media_id: file.media_id, size: 64 * MIB, content_class: "video" });
    // Through node:http (the capability lets anyone holding it download, chat member or not).
    const down = await sha256(outsider.downloadFile(large));
    const expected = await sha256(generated(64));
    expect(down).toEqual(expected);
    const start = 10 * MIB + 3;
    const slice = Buffer.from(piece(10)).subarray(3, 300_003);
    expect(Buffer.from(await bob.downloadFileRange(large, start, start + 300_000)).equals(slice)).toBe(true);
    expect(Buffer.from(await outsider.downloadFileRange(large, start, start + 300_000)).equals(slice)).toBe(true);
  }, 240_000);

  it("never stores the plaintext: the marker is nowhere in the server's state", async () => {
    const files = await filesUnder(join(workDir(), "server-state"));
    const sizes = await Promise.all(files.map(async (f) => (await stat(f)).size));
    // The 64 MiB blob is in there (local R2 keeps multipart parts as separate blobs, 8 MiB each),
    // so the scan covers it...
    expect(sizes.filter((s) => s === 8 * MIB).length).toBeGreaterThanOrEqual(8);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(large.cipher_size);
    // ...and no file holds the marker the plaintext repeats every 4 KiB.
    for (const f of files) expect(await fileContains(f, MARKER), f).toBe(false);
  }, 120_000);

  it("refuses a tampered, truncated or swapped blob", async () => {
    const expectCorrupt = async (what: string) => {
      const err = await (async () => {
        for await (const _ of bob.downloadFile(small)) void _;
      })().catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(CryptoError);
      expect((err as CryptoError).code, what).toBe("MEDIA_CORRUPT");
    };
    const bodyOf = async (res: Response) => new Uint8Array(await res.arrayBuffer());
    const respond = (bytes: Uint8Array) => new Response(bytes as Uint8Array<ArrayBuffer>, { status: 200, headers: { "content-type": "application/octet-stream" } });

    bobNet.hooks.rewrite = async (_url, res) => {
      const b = await bodyOf(res);
      b[MEDIA_HEADER_BYTES + 5000]! ^= 1;
      return respond(b);
    };
    await expectCorrupt("one flipped bit");

    // Cut at a chunk boundary (so every remaining chunk is intact), with the length header to match.
    bobNet.hooks.rewrite = async (_url, res) => respond((await bodyOf(res)).subarray(0, MEDIA_HEADER_BYTES + 2 * (256 * 1024 + 16)));
    await expectCorrupt("truncated");

    // Another upload of the same size with its own key: the server hands it out instead.
    const other = await alice.sendFile(bob.account.handle, whole(1), { mime: "application/pdf" });
    bobNet.hooks.rewrite = async (_url, _res) => {
      await _res.body?.cancel();
      return globalThis.fetch(`${server().url}/v1/media/${other.file.media_id}?cap=${other.file.download_cap}`);
    };
    await expectCorrupt("swapped");
    bobNet.hooks.rewrite = undefined;
    expect((await sha256(bob.downloadFile(small))).bytes).toBe(MIB);
  }, 60_000);

  it("leaves the pieces of an app's own response stream alone (the SDK frees only byte-stream pieces)", async () => {
    const kept: Uint8Array[] = [];
    bobNet.hooks.rewrite = async (_url, res) => {
      const bytes = new Uint8Array(await res.arrayBuffer());
      // Whole-buffer pieces the app holds on to, through a plain (not byte) stream.
      for (let o = 0; o < bytes.length; o += 100_000) kept.push(bytes.slice(o, o + 100_000));
      let next = 0;
      const body = new ReadableStream<Uint8Array>({ pull: (c) => (next < kept.length ? c.enqueue(kept[next++]!) : c.close()) });
      return new Response(body, { status: 200, headers: { "content-length": String(bytes.length) } });
    };
    try {
      const down = await sha256(bob.downloadFile(small));
      expect(down).toEqual(await sha256(generated(1)));
    } finally {
      bobNet.hooks.rewrite = undefined;
    }
    expect(kept.length).toBeGreaterThan(1);
    expect(kept.reduce((n, p) => n + p.byteLength, 0)).toBe(small.cipher_size);
  }, 60_000);

  it("lets the chat's members download once the capability has expired (the send declared the media id), and nobody else", async () => {
    // An expired capability (exp 1): the SDK downloads as a member of the chat with its device token.
    const expired = { ...small, download_cap: `1.${small.download_cap.split(".")[1]}` };
    expect(await sha256(bob.downloadFile(expired))).toEqual(await sha256(bob.downloadFile(small)));
    expect(Buffer.from(await bob.downloadFileRange(expired, 10, 20))).toEqual(whole(1).subarray(10, 20));
    const err = await (async () => {
      for await (const _ of outsider.downloadFile(expired)) void _;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ParleyApiError);
    expect((err as ParleyApiError).status).toBe(404);
  });

  it("downloads through node:http when the app leaves fetch to the SDK, through the app's fetch when it brings one, with the same errors", async () => {
    const mediaFetches: string[] = [];
    const globalFetch = globalThis.fetch;
    globalThis.fetch = (input, init) => {
      if (String(input).includes("/v1/media/")) mediaFetches.push(String(input));
      return globalFetch(input, init);
    };
    const bobRequests: string[] = [];
    bobNet.hooks.request = (url) => bobRequests.push(url);
    const refusal = async (client: Client) =>
      (async () => {
        for await (const _ of client.downloadFile({ ...small, download_cap: large.download_cap })) void _;
      })().catch((e: unknown) => e);
    try {
      expect(await sha256(outsider.downloadFile(small))).toEqual(await sha256(generated(1)));
      expect(mediaFetches).toEqual([]);
      expect(await sha256(bob.downloadFile(small))).toEqual(await sha256(generated(1)));
      expect(bobRequests.filter((u) => u.includes("/v1/media/"))).toHaveLength(1);
      // A refused capability is the same ParleyApiError either way.
      const viaNodeHttp = await refusal(outsider);
      const viaFetch = await refusal(bob);
      expect(viaNodeHttp).toBeInstanceOf(ParleyApiError);
      expect(viaFetch).toBeInstanceOf(ParleyApiError);
      const fields = (e: unknown) => ({ status: (e as ParleyApiError).status, code: (e as ParleyApiError).code, message: (e as ParleyApiError).message, details: (e as ParleyApiError).details });
      expect(fields(viaNodeHttp)).toEqual(fields(viaFetch));
      expect((viaNodeHttp as ParleyApiError).status).toBe(403);
      // Every media request the global fetch saw came through bob's own fetch.
      expect(mediaFetches).toEqual(bobRequests.filter((u) => u.includes("/v1/media/")));
      expect(mediaFetches).toHaveLength(2);
    } finally {
      globalThis.fetch = globalFetch;
      bobNet.hooks.request = undefined;
    }
  });

  it("refuses downloads without a valid capability", async () => {
    const none = await fetch(`${server().url}/v1/media/${small.media_id}`);
    expect(none.status).toBe(401);
    const forged = await fetch(`${server().url}/v1/media/${large.media_id}?cap=${small.download_cap}`);
    expect(forged.status).toBe(403);
    const err = await (async () => {
      for await (const _ of bob.downloadFile({ ...small, download_cap: large.download_cap })) void _;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ParleyApiError);
    expect((err as ParleyApiError).status).toBe(403);
  });

  it("resumes a multipart upload whose part was cut off mid-way", async () => {
    const partRequests: string[] = [];
    let failed = false;
    aliceNet.hooks.request = (url) => {
      const m = /\/parts\/(\d+)/.exec(url);
      if (m && new URL(url).pathname.endsWith(`/parts/${m[1]}`)) partRequests.push(`${m[1]}`);
      if (!failed && url.includes("/parts/2?")) {
        failed = true;
        throw new TypeError("fetch failed: socket hang up");
      }
    };
    const { file } = await alice.sendFile(bob.account.handle, generated(20), { mime: "application/zip", size: 20 * MIB });
    aliceNet.hooks.request = undefined;
    expect(failed).toBe(true);
    // Part 2 was attempted twice (the cut one, then the resend after asking which parts exist).
    expect(partRequests.filter((p) => p === "2").length).toBe(2);
    expect(await sha256(bob.downloadFile(file))).toEqual(await sha256(generated(20)));
  }, 120_000);
  it("finishes an upload a dead process left behind: a new client on the same store sends only the missing parts", async () => {
    const store = new MemoryKeyValueStore();
    const net = interceptingFetch();
    const carol = await Client.register({ server: server().url, store, handle: handle("carol"), WebSocket: WS, fetch: net.fetchImpl });
    const plain = whole(20);
    // The process "dies" at part 2: every attempt fails, so the upload stops with part 1 stored.
    net.hooks.request = (url) => {
      if (url.includes("/parts/2?")) throw new TypeError("fetch failed: connection reset");
    };
    const err = await carol.sendFile(bob.account.handle, new Blob([plain as Uint8Array<ArrayBuffer>]), { mime: "application/zip", name: "big.zip", caption: "resumed" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    await carol.close();

    const restartedNet = interceptingFetch();
    const parts: string[] = [];
    restartedNet.hooks.request = (url) => {
      const m = /\/parts\/(\d+)\?/.exec(url);
      if (m) parts.push(m[1]!);
    };
    const restarted = await Client.open({ server: server().url, store, WebSocket: WS, fetch: restartedNet.fetchImpl });
    try {
      const [saved, ...more] = await restarted.pendingUploads();
      expect(more).toEqual([]);
      expect(saved).toMatchObject({ size: plain.length, message: { caption: "resumed" } });
      const [resumed] = await restarted.resumeUploads(async () => new Blob([plain as Uint8Array<ArrayBuffer>]));
      expect(parts).toEqual(["2", "3"]);
      expect(await restarted.pendingUploads()).toEqual([]);
      expect(resumed!.file).toMatchObject({ media_id: saved!.media_id, name: "big.zip", size: plain.length });
      expect(resumed!.ack.duplicate).toBe(false);
      expect(await sha256(bob.downloadFile(resumed!.file))).toEqual(await sha256((async function* () { yield plain; })()));
    } finally {
      await restarted.close();
    }
  }, 120_000);
});

describe("files through the CLI", () => {
  it("send-file, recv --save-dir and download move a file intact", async () => {
    const a = join(workDir(), "cli-alice");
    const b = join(workDir(), "cli-bob");
    const bobHandle = handle("bob");
    expect((await parley(server().url, a, "register", handle("alice"))).code).toBe(0);
    expect((await parley(server().url, b, "register", bobHandle)).code).toBe(0);
    const path = join(workDir(), "photo.png");
    const content = Buffer.concat([piece(1, 300_000), Buffer.from("tail")]);
    await writeFile(path, content);

    const sent = await parley(server().url, a, "send-file", bobHandle, path, "--caption", "look");
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.lines).toEqual([{ msg_id: expect.any(String), chat_id: expect.stringMatching(/^d_/), chat_seq: 1, server_ts: expect.any(Number), media_id: expect.stringMatching(/^m_/) }]);
    expect(sent.stderr).toMatch(/uploading photo\.png \[#+\] 100%/);

    const saveDir = join(workDir(), "saved");
    const got = await parley(server().url, b, "recv", "--timeout", "1", "--save-dir", saveDir);
    expect(got.code, got.stderr).toBe(0);
    const line = got.lines.find((l) => l.type === "message")!;
    expect(line).toMatchObject({ msg_id: sent.lines[0]!.msg_id, text: "look", file: { name: "photo.png", mime: "image/png", size: content.length }, saved: expect.any(String) });
    expect((await readFile(line.saved as string)).equals(content)).toBe(true);

    const out = join(workDir(), "again.png");
    const dl = await parley(server().url, b, "download", sent.lines[0]!.msg_id as string, out);
    expect(dl.code, dl.stderr).toBe(0);
    expect(dl.lines).toEqual([{ msg_id: sent.lines[0]!.msg_id, path: out, bytes: content.length }]);
    expect((await readFile(out)).equals(content)).toBe(true);
    expect((await parley(server().url, b, "download", "no-such-msg", out)).code).toBe(1);
  }, 120_000);
});
