/**
 * @module Media requests in Node through node:http / node:https instead of `fetch`, so that the
 * SDK owns every buffer a media transfer's bytes pass through and can free or reuse each one as
 * soon as the transfer is done with it (release-buffer.ts). With `fetch` (undici) each socket read
 * lands in a fresh buffer out of the SDK's reach, V8 lets some 30 MiB of those pile up before it
 * collects them, and nothing says when a request body's bytes have left the process.
 *
 * Downloads: the two kinds of garbage per read are both ours to free:
 * - the body pieces: Node's HTTP parser copies each body piece out of the socket read into a
 *   buffer of its own (`Buffer::Copy`), which goes into a byte stream (enqueueing transfers it, so
 *   the reader holds its only reference) and is freed by media-download.ts once copied;
 * - the socket reads: net hands each 'data' event a fresh buffer of exactly the bytes read, and the
 *   http client's own 'data' listener, which runs first, parses it synchronously and copies the
 *   body out; the parser keeps no pointer into it once `execute` returns. A listener added after
 *   the response arrived runs after that one and frees the read. The socket is this request's
 *   alone (`agent: false`: no keep-alive pool, nothing else listening), and the listener is
 *   removed when the response ends. Checked in Node 20 by experiment (a 64 MiB body hashes equal
 *   with every read freed) and by test/node/node-media-http.test.ts; were a later Node to read a
 *   read again from JavaScript it would see an empty buffer, and missing bytes are refused by the
 *   media AEAD (MEDIA_CORRUPT), never handed out.
 *
 * Uploads: each piece of a streamed body is written with `req.write(piece, callback)`; the
 * callback runs once the socket has handed the piece to the kernel (libuv's write completed, or
 * TLS encrypted it into its own buffer), so the body's `written` hook can reuse the piece's memory
 * from then on (media-ranges.ts reseals into it) instead of only after the response. Backpressure
 * is the socket's: the next piece is read only after 'drain'.
 *
 * The request behaves as `fetch` would for the SDK's media requests: same headers (no
 * Accept-Encoding, so no compression; Content-Length for a body), redirects of a bodyless request
 * followed (at most 20, Authorization dropped on a cross-origin hop; a request with a body is not
 * redirected, as fetch refuses to replay a stream), undici's timeouts (10 s to connect, 300 s of
 * silence), a failure before the response rejects (TypeError "fetch failed", its cause the source
 * error if reading the body failed), one mid-body is an error of the body stream. The result is a
 * standard Response, so ApiClient maps statuses and errors exactly as for `fetch`.
 * node:http comes through `process.getBuiltinModule`: browser and Workers bundles import no node
 * module, and there `nodeMediaHttp()` is null and `fetch` is used.
 */
import type { ClientRequest, IncomingMessage, RequestOptions } from "node:http";
import type { MediaBody } from "./api";
import { releaseBuffer, spansWholeBuffer } from "./release-buffer";

interface HttpModule {
  request(url: URL, options: RequestOptions, onResponse: (res: IncomingMessage) => void): ClientRequest;
}

/** undici's defaults, which `fetch` applies to these requests. */
const CONNECT_TIMEOUT_MS = 10_000;
const IDLE_TIMEOUT_MS = 300_000;
const MAX_REDIRECTS = 20;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Bytes the body stream buffers ahead of its reader (about two socket reads) before pausing the socket. */
const READ_AHEAD_BYTES = 128 * 1024;

function builtin(id: string): HttpModule | null {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const mod = proc?.getBuiltinModule?.(id) as HttpModule | undefined;
    return typeof mod?.request === "function" ? mod : null;
  } catch {
    return null;
  }
}

/** A media request: method, headers, and for uploads the body (bytes, or a stream of exactly `length` bytes). */
export interface MediaRequest {
  method: "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE";
  headers: Record<string, string>;
  body?: MediaBody;
}

export type MediaTransport = (url: string, request: MediaRequest) => Promise<Response>;

/** Media requests over node:http(s), or null outside Node. */
export function nodeMediaHttp(): MediaTransport | null {
  const http = builtin("node:http");
  const https = builtin("node:https");
  if (!http || !https) return null;
  return async (input, request) => {
    const headers = { ...request.headers };
    let url = new URL(input);
    for (let hops = 0; ; hops++) {
      const res = await send(url.protocol === "https:" ? https : http, url, request.method, headers, request.body);
      const location = res.headers.location;
      if (request.body !== undefined || !REDIRECT_STATUSES.has(res.statusCode ?? 0) || location === undefined) return toResponse(res);
      res.destroy();
      if (hops === MAX_REDIRECTS) throw new TypeError("fetch failed", { cause: new Error("redirect count exceeded") });
      const next = new URL(location, url);
      // As fetch does: a credential for one origin is not sent to another.
      if (next.origin !== url.origin) delete headers.authorization;
      url = next;
    }
  };
}

/** Sends the request; resolves with the response head, rejects (as fetch: TypeError) if none came. */
function send(mod: HttpModule, url: URL, method: MediaRequest["method"], headers: Record<string, string>, body: MediaBody | undefined): Promise<IncomingMessage> {
  if (url.protocol !== "http:" && url.protocol !== "https:") return Promise.reject(new TypeError("fetch failed", { cause: new Error(`unsupported protocol ${url.protocol}`) }));
  const sentHeaders = body === undefined ? headers : { ...headers, "content-length": String(body.length) };
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, headers: sentHeaders, agent: false }, resolve);
    const connecting = setTimeout(() => req.destroy(new Error(`connect timeout after ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    req.once("socket", (socket) => socket.once(url.protocol === "https:" ? "secureConnect" : "connect", () => clearTimeout(connecting)));
    req.once("close", () => clearTimeout(connecting));
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no data for ${IDLE_TIMEOUT_MS} ms`)));
    // After the response has arrived, errors end its body stream instead (toResponse).
    req.on("error", (err) => reject(new TypeError("fetch failed", { cause: err })));
    if (body === undefined) req.end();
    else if (body instanceof Uint8Array) req.end(body);
    else writeBody(req, body).catch((err: unknown) => req.destroy(err instanceof Error ? err : new Error(String(err))));
  });
}

/**
 * Writes a streamed body piece by piece, waiting for 'drain' when the socket's buffer is full,
 * and tells the body each piece it no longer needs (`written`). Stops when the request ends early
 * (the server answered or the connection failed): the pieces not written are never confirmed.
 */
async function writeBody(req: ClientRequest, body: Exclude<MediaBody, Uint8Array>): Promise<void> {
  const reader = body.stream.getReader();
  let ended = false;
  const stop = () => {
    ended = true;
    reader.cancel().catch(() => undefined);
  };
  req.once("close", stop);
  req.once("response", (res: IncomingMessage) => {
    // An answer before the whole body went (an error status, typically): send no more, and close
    // the connection once the answer is read rather than leave the server waiting for the rest.
    if (!req.writableEnded) {
      stop();
      res.once("end", () => req.destroy());
    }
  });
  try {
    for (;;) {
      const next = await reader.read();
      if (ended) return;
      if (next.done) break;
      const piece = next.value;
      const room = req.write(piece, (err) => {
        if (!err) body.written?.(piece);
      });
      if (!room) await new Promise<void>((resolve) => {
        const go = () => {
          req.off("drain", go);
          req.off("close", go);
          resolve();
        };
        req.once("drain", go);
        req.once("close", go);
      });
      if (ended) return;
    }
  } finally {
    req.off("close", stop);
  }
  req.end();
}

function toResponse(res: IncomingMessage): Response {
  const headers = new Headers();
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
  const status = res.statusCode ?? 0;
  const init = { status, statusText: res.statusMessage ?? "", headers };
  if (status === 204 || status === 304) {
    res.destroy();
    return new Response(null, init);
  }
  const socket = res.socket;
  // Runs after the http client's own listener has parsed (and copied the body out of) this read.
  const freeSocketRead = (read: unknown) => {
    if (read instanceof Uint8Array) releaseBuffer(read);
  };
  socket?.on("data", freeSocketRead);
  const detach = () => socket?.off("data", freeSocketRead);
  let settled = false;
  const source: UnderlyingByteSource = {
    type: "bytes",
    start(controller) {
      // Reported through "close" (res.errored), like any other end of the body before its end.
      res.on("error", () => {});
      res.on("data", (piece: Uint8Array) => {
        if (settled) return;
        // The parser's copies are whole buffers; anything else is copied so enqueueing (which
        // transfers the buffer) cannot detach memory others share, such as Node's Buffer pool.
        try {
          controller.enqueue((spansWholeBuffer(piece) ? piece : new Uint8Array(piece)) as Uint8Array<ArrayBuffer>);
        } catch (err) {
          res.destroy(err as Error); // ends the body with this error ("close" below), never a throw out of an event
          return;
        }
        if ((controller.desiredSize ?? 0) <= 0) res.pause();
      });
      res.once("end", () => {
        detach();
        if (settled) return;
        settled = true;
        controller.close();
      });
      res.once("close", () => {
        detach();
        if (settled) return;
        settled = true;
        // As undici reports a body cut off mid-way.
        controller.error(new TypeError("terminated", { cause: res.errored ?? new Error("connection closed before the body ended") }));
      });
    },
    pull() {
      res.resume();
    },
    cancel() {
      settled = true;
      detach();
      res.destroy();
    },
  };
  return new Response(new ReadableStream(source, { highWaterMark: READ_AHEAD_BYTES }), init);
}
