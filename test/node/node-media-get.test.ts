/**
 * Media downloads through node:http (src/client/node-media-get.ts), against small node:http
 * servers that misbehave on purpose: the body arrives byte-equal while the process's buffer memory
 * stays flat (each body piece and each socket read freed, no garbage left to pile up), redirects
 * are followed as fetch follows them (Range kept, Authorization dropped on a cross-origin hop, at
 * most 20), error statuses become the same ParleyApiError as through fetch, and a body cut off
 * mid-way or a server that is not there fails instead of looking complete.
 */
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from "node:http";
import { createHash } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/client/api";
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
