/**
 * @module Serving stored media: the download capability names the media id, the blob is streamed
 * from R2 with `Range` (one range; 206 + Content-Range), a strong `ETag` (If-None-Match -> 304),
 * and immutable cache headers so a CDN can keep it until it expires. In presigned mode the Worker
 * answers 302 to an R2 presigned GET instead, which handles Range itself.
 */
import type { Config } from "../config";
import { database } from "../db/client";
import { findMedia, type MediaRow } from "../db/media";
import type { Env } from "../env";
import { ApiError, errorBody } from "../errors";
import { MEDIA_MAX_CACHE_SECONDS } from "../limits";
import { mediaBucket } from "../placement";
import { requireCapability } from "./capability";
import { mediaObjectKey } from "./keys";
import { presignConfig, presignUrl, usesPresignedUrls } from "./presign";

/** A stored, unexpired media row the download capability names; 401/403/404 otherwise. */
export async function authorizedDownload(env: Env, cfg: Config, mediaId: string, cap: string | undefined, now: number): Promise<MediaRow> {
  await requireCapability(cfg.authTokenSecret, "download", mediaId, cap, now);
  const row = await findMedia(database(env.DB), mediaId);
  if (!row || row.state !== "complete" || row.expiresAt <= now) throw new ApiError("not_found", "no such media (expired, or not uploaded yet)");
  return row;
}

type ByteRange = { offset: number; length: number };

/** One `bytes=` range (RFC 9110 §14.1.2); null for no header or a multi-range (served whole). */
export function parseRange(header: string | null, size: number): ByteRange | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) {
    if (/^bytes=.*,/.test(header)) return null;
    throw new ApiError("range_not_satisfiable", "Range must be a single bytes=start-end range", { size });
  }
  const [, a, b] = m as unknown as [string, string, string];
  let start: number;
  let end: number;
  if (a === "") {
    if (b === "") throw new ApiError("range_not_satisfiable", "empty Range", { size });
    start = Math.max(0, size - Number(b));
    end = size - 1;
  } else {
    start = Number(a);
    end = b === "" ? size - 1 : Math.min(Number(b), size - 1);
  }
  if (start >= size || end < start) throw new ApiError("range_not_satisfiable", `range outside the ${size}-byte object`, { size });
  return { offset: start, length: end - start + 1 };
}

/**
 * `viaToken`: authorized by a device token (a chat member), not by the capability in the URL. A
 * shared cache must then not keep the answer: it would serve it to anyone asking for the same URL.
 */
export async function serveDownload(env: Env, cfg: Config, row: MediaRow, request: Request, now: number, viaToken = false): Promise<Response> {
  const maxAge = Math.max(0, Math.min(MEDIA_MAX_CACHE_SECONDS, Math.floor((row.expiresAt - now) / 1000)));
  const etag = `"${row.etag}"`;
  const headers = new Headers({
    etag,
    "cache-control": `${viaToken ? "private" : "public"}, max-age=${maxAge}, immutable`,
    "accept-ranges": "bytes",
    "content-type": "application/octet-stream",
  });
  if (request.headers.get("if-none-match")?.split(",").some((t) => t.trim() === etag)) return new Response(null, { status: 304, headers });
  if (usesPresignedUrls(cfg, row.accountId)) {
    const url = await presignUrl(presignConfig(cfg), "GET", mediaObjectKey(row.id), Math.min(3600, maxAge), now);
    return new Response(null, { status: 302, headers: { location: url, "cache-control": "private, no-store" } });
  }
  let range: ByteRange | null;
  try {
    range = parseRange(request.headers.get("range"), row.size);
  } catch (err) {
    // 416 must say the full length (RFC 9110 §15.5.17) so the client can ask again correctly.
    if (!(err instanceof ApiError)) throw err;
    return Response.json(errorBody(err), { status: err.status, headers: { "content-range": `bytes */${row.size}` } });
  }
  const object = await mediaBucket(env, row.accountId).get(mediaObjectKey(row.id), range ? { range } : {});
  if (!object) throw new ApiError("not_found", "no such media (expired)");
  if (range) {
    headers.set("content-range", `bytes ${range.offset}-${range.offset + range.length - 1}/${row.size}`);
    headers.set("content-length", String(range.length));
    return new Response(object.body, { status: 206, headers });
  }
  headers.set("content-length", String(row.size));
  return new Response(object.body, { status: 200, headers });
}
