/**
 * Media requests through node:http (src/client/node-media-http.ts), against small node:http
 * servers that misbehave on purpose. Downloads: the body arrives byte-equal while the process's
 * buffer memory stays flat (each body piece and each socket read freed, no garbage left to pile
 * up), redirects are followed as fetch follows them (Range kept, Authorization dropped on a
 * cross-origin hop, at most 20), error statuses become the same ParleyApiError as through fetch,
 * and a body cut off mid-way or a server that is not there fails instead of looking complete.
 * Uploads: a streamed part arrives byte-equal while its sealed chunks are resealed into as soon as
 * each is written (a few chunks in memory, not the part), a server answering before the body is
 * complete ends the upload with its error, and a source that fails mid-way fails the request.
 */
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from "node:http";
import { createHash } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/client/api";
import { MediaCipherRanges } from "../../src/client/media-ranges";
import { ParleyApiError, TransportError } from "../../src/client/errors";
import { releaseBuffer } from "../../src/client/release-buffer";
import { freePort } from "./support/server";

const MIB = 1024 * 1024;
const servers: Server[] = [];

async function serve(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** Reads a body the way media-download.ts does: each piece copied (here: hashed), then freed. */
async function drain(res: Response): Promise<{ hash: string; bytes: number }> {
  const h = createHash("sha256");
  let bytes = 0;
  const reader = res.body!.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    h.update(r.value);
    bytes += r.value.length;
    releaseBuffer(r.value);
  }
  return { hash: h.digest("hex"), bytes };
}

describe("media downloads through node:http", () => {
  it("streams a 48 MiB body byte-equal without its buffers piling up", async () => {
    const size = 48 * MIB;
    const body = Buffer.alloc(size);
    for (let o = 0; o < size; o += 4096) body.writeUInt32BE(o, o);
    const headers: IncomingHttpHeaders[] = [];
    const base = await serve((req, res) => {
      headers.push(req.headers);
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size });
      res.end(body);
    });
    const api = new ApiClient(base);
    let peak = 0;
    const before = process.memoryUsage().arrayBuffers;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers - before)), 5);
    try {
      const got = await drain(await api.downloadMedia("m_1", "9.cap", { start: 0, end: size }));
      expect(got).toEqual({ hash: createHash("sha256").update(body).digest("hex"), bytes: size });
    } finally {
      clearInterval(sampler);
    }
    // Through fetch, ~30 MiB of dead socket reads pile up before V8 collects them; here each is
    // freed once parsed (the server's response is one buffer it already had).
    expect(peak).toBeLessThan(12 * MIB);
    expect(headers[0]).toMatchObject({ range: `bytes=0-${size - 1}` });
    expect(headers[0]!["accept-encoding"]).toBeUndefined();
  }, 60_000);

  it("follows redirects like fetch: Range kept, Authorization only to the same origin, at most 20 hops", async () => {
    const seen: { origin: string; url: string; headers: IncomingHttpHeaders }[] = [];
    const other = await serve((req, res) => {
      seen.push({ origin: "other", url: req.url!, headers: req.headers });
      res.writeHead(206, { "content-length": 3 });
      res.end("abc");
    });
    const base = await serve((req, res) => {
      seen.push({ origin: "base", url: req.url!, headers: req.headers });
      if (req.url!.startsWith("/v1/media/m_1")) res.writeHead(302, { location: "/hop" }).end();
      else if (req.url === "/hop") res.writeHead(307, { location: `${other}/r2/object?sig=1` }).end();
      else res.writeHead(302, { location: `/loop${Number(req.url!.match(/\d+$/)?.[0] ?? 0) + 1}` }).end();
    });
    const api = new ApiClient(base, { tokens: { token: async () => "t0k", invalidate: () => {} } });
    const res = await api.downloadMedia("m_1", null, { start: 10, end: 13 });
    expect(res.status).toBe(206);
    expect(await res.text()).toBe("abc");
    expect(seen.map((s) => [s.origin, s.url])).toEqual([
      ["base", "/v1/media/m_1"],
      ["base", "/hop"],
      ["other", "/r2/object?sig=1"],
    ]);
    expect(seen.map((s) => s.headers.range)).toEqual(["bytes=10-12", "bytes=10-12", "bytes=10-12"]);
    expect(seen.map((s) => s.headers.authorization)).toEqual(["Bearer t0k", "Bearer t0k", undefined]);

    seen.length = 0;
    const err = await api.downloadMedia("loop", "1.c").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(seen).toHaveLength(21);
  });

  it("turns error statuses into the same ParleyApiError as fetch does", async () => {
    const base = await serve((req, res) => {
      if (req.url!.includes("json")) res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "not_found", message: "no such media" } }));
      else res.writeHead(403, { "content-type": "application/xml" }).end("<Error><Code>AccessDenied</Code></Error>");
    });
    for (const [id, expected] of [
      ["json", { status: 404, code: "not_found", message: "no such media" }],
      ["xml", { status: 403, code: "http_error", message: "HTTP 403" }],
    ] as const) {
      const viaNodeHttp = await new ApiClient(base).downloadMedia(id, "1.c").catch((e: unknown) => e);
      const viaFetch = await new ApiClient(base, { fetch: (u, i) => fetch(u, i) }).downloadMedia(id, "1.c").catch((e: unknown) => e);
      for (const err of [viaNodeHttp, viaFetch]) {
        expect(err).toBeInstanceOf(ParleyApiError);
        expect(err).toMatchObject(expected);
      }
    }
  });

  it("fails a body cut off mid-way, and a server that is not there", async () => {
    const base = await serve((_req, res) => {
      res.writeHead(200, { "content-length": MIB });
      res.write(Buffer.alloc(100_000, 7), () => res.destroy());
    });
    const res = await new ApiClient(base).downloadMedia("m_1", "1.c");
    const err = await drain(res).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as TypeError).message).toBe("terminated");

    const nobody = await new ApiClient(`http://127.0.0.1:${await freePort()}`).downloadMedia("m_1", "1.c").catch((e: unknown) => e);
    expect(nobody).toBeInstanceOf(TransportError);
  });
});


describe("media uploads through node:http", () => {
  it("streams a 48 MiB part byte-equal, resealing into each chunk's buffer once it is written", async () => {
    const size = 48 * MIB;
    const plaintext = new Uint8Array(size);
    for (let o = 0; o < size; o += 4096) plaintext[o] = o & 0xff;
    const key = new Uint8Array(32).fill(9);
    // The same key seals the same ciphertext (per-chunk nonces): the expected hash, made first.
    const reference = await MediaCipherRanges.create(plaintext, key);
    const expected = createHash("sha256");
    const whole = reference.stream(0, reference.cipherSize).getReader();
    for (let r = await whole.read(); !r.done; r = await whole.read()) expected.update(r.value);
    const expectedHash = expected.digest("hex");

    let received: { hash: string; bytes: number; headers: IncomingHttpHeaders } | null = null;
    const base = await serve((req, res) => {
      const h = createHash("sha256");
      let bytes = 0;
      req.on("data", (piece: Buffer) => {
        h.update(piece);
        bytes += piece.length;
        // The server's copy of each body piece (same process): freed, so only the client's memory shows.
        releaseBuffer(piece);
      });
      req.on("end", () => {
        received = { hash: h.digest("hex"), bytes, headers: req.headers };
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ part_number: 1, size: bytes }));
      });
    });
    const cipher = await MediaCipherRanges.create(plaintext, key);
    let peak = 0;
    const before = process.memoryUsage().arrayBuffers;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers - before)), 5);
    try {
      expect(await new ApiClient(base).putMediaPart("m_1", "1.c", 1, cipher.body(0, cipher.cipherSize))).toEqual({ part_number: 1, size: cipher.cipherSize });
    } finally {
      clearInterval(sampler);
    }
    expect(received).toMatchObject({ hash: expectedHash, bytes: cipher.cipherSize, headers: { "content-length": String(cipher.cipherSize) } });
    // Confirmed only at the response (fetch), the part's 192 chunk buffers would all be alive at
    // its end; confirmed as written, the read-ahead and the socket's queue are.
    expect(peak).toBeLessThan(12 * MIB);
  }, 60_000);

  it("ends with the server's error when it answers before the body is complete", async () => {
    let requests = 0;
    const base = await serve((_req, res) => {
      requests++;
      res.writeHead(413, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "payload_too_large", message: "too big" } }));
    });
    const cipher = await MediaCipherRanges.create(new Uint8Array(8 * MIB), new Uint8Array(32).fill(1));
    const err = await new ApiClient(base).putMediaPart("m_1", "1.c", 1, cipher.body(0, cipher.cipherSize)).catch((e: unknown) => e);
    // Either the answer arrives first, or the connection closes under the remaining body first.
    expect(err instanceof ParleyApiError ? err.status : err).toSatisfy((v: unknown) => v === 413 || v instanceof TransportError);
    expect(requests).toBe(1);
  });

  it("fails the request when the body's source fails mid-way, and when nobody is there", async () => {
    let sawEnd = false;
    let sawAbort = false;
    const base = await serve((req, res) => {
      req.on("end", () => {
        sawEnd = true;
        res.end("{}");
      });
      req.on("aborted", () => (sawAbort = true));
      req.on("error", () => (sawAbort = true));
      req.resume();
    });
    const diskGone = new Error("disk gone");
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 4) return controller.error(diskGone);
        sent++;
        controller.enqueue(new Uint8Array(64 * 1024));
      },
    });
    const err = await new ApiClient(base).putMediaPart("m_1", "1.c", 1, { stream, length: MIB }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(((err as TransportError).cause as TypeError).cause).toBe(diskGone);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sawEnd).toBe(false);
    expect(sawAbort).toBe(true);

    const nobody = await new ApiClient(`http://127.0.0.1:${await freePort()}`)
      .putMediaPart("m_1", "1.c", 1, { stream: new ReadableStream({ start: (c) => (c.enqueue(new Uint8Array(10)), c.close()) }), length: 10 })
      .catch((e: unknown) => e);
    expect(nobody).toBeInstanceOf(TransportError);
  });
});
