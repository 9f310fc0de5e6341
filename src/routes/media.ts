/**
 * @module Encrypted media (issue 8): upload slots (bearer-authenticated), the upload routes
 * (authorized by the slot's upload capability, so a body can stream from anywhere the client
 * hands the URL to), and downloads (authorized by the download capability that travels inside the
 * end-to-end message, or by the device token of a member of a chat that referenced the media).
 * The logic lives in src/media/; this file is the HTTP surface.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { loadConfig } from "../config";
import { database } from "../db/client";
import { extendExpiry } from "../db/media";
import { ApiError } from "../errors";
import { authenticate } from "../middleware/auth";
import { issueCapability } from "../media/capability";
import { authorizedDownload, serveDownload } from "../media/downloads";
import { authorizedMemberDownload } from "../media/references";
import { abort, authorizedUpload, complete, createSlot, partsOf, putPart, putSingle } from "../media/uploads";
import { CapabilityQuery, MediaId, MediaParts, MediaPartStored, MediaSlot, MediaSlotRequest, MediaStored, PartNumberParam } from "../protocol/media";
import { authErrors, bearerSecurity, capabilitySecurity, commonErrors, deviceRoute, errorResponse, jsonBody, jsonResponse } from "./openapi-helpers";

/** Upload bodies are raw ciphertext, not JSON, and far above the JSON body limit: app.ts lets these through. */
export function isMediaBodyRequest(method: string, path: string): boolean {
  return method === "PUT" && /^\/v1\/media\/[^/]+\/(upload|parts\/[^/]+)$/.test(path);
}

const capErrors = {
  ...commonErrors,
  401: errorResponse("unauthorized: no capability (?cap=)"),
  403: errorResponse("forbidden: forged or expired capability"),
  404: errorResponse("not_found: no such media (never created, aborted, expired)"),
} as const;

const idParam = z.object({ media_id: MediaId });
const binaryBody = { required: true, content: { "application/octet-stream": { schema: z.string().meta({ format: "binary" }) } } } as const;

const slotRoute = createRoute({
  ...deviceRoute("media"),
  method: "post",
  path: "/media",
  summary: "Reserve an upload slot: declared ciphertext size and content class -> media id + upload capability",
  request: { body: jsonBody(MediaSlotRequest) },
  responses: {
    200: jsonResponse(MediaSlot, "The slot; upload within upload_expires_at"),
    ...authErrors,
    413: errorResponse("payload_too_large: larger than MEDIA_MAX_BYTES"),
    429: errorResponse("quota_exceeded: the account's daily media quota would be exceeded; rate_limited"),
  },
});

const putSingleRoute = createRoute({
  security: capabilitySecurity,
  method: "put",
  path: "/media/{media_id}/upload",
  tags: ["media"],
  summary: "Upload the whole (encrypted) body of a single-mode slot; exactly the declared size",
  request: { params: idParam, query: CapabilityQuery, body: binaryBody },
  responses: { 200: jsonResponse(MediaStored, "Stored"), 409: errorResponse("conflict: already stored, or a multipart slot"), ...capErrors },
});

const putPartRoute = createRoute({
  security: capabilitySecurity,
  method: "put",
  path: "/media/{media_id}/parts/{part_number}",
  tags: ["media"],
  summary: "Upload one part of a multipart slot (part_bytes each, the last one the rest); re-sending a part replaces it",
  request: { params: idParam.extend({ part_number: PartNumberParam }), query: CapabilityQuery, body: binaryBody },
  responses: { 200: jsonResponse(MediaPartStored, "Part stored"), 409: errorResponse("conflict: already stored, or a single slot"), ...capErrors },
});

const listPartsRoute = createRoute({
  security: capabilitySecurity,
  method: "get",
  path: "/media/{media_id}/parts",
  tags: ["media"],
  summary: "Which parts are stored (to resume an interrupted upload)",
  request: { params: idParam, query: CapabilityQuery },
  responses: { 200: jsonResponse(MediaParts, "Parts R2 has accepted"), ...capErrors },
});

const completeRoute = createRoute({
  security: capabilitySecurity,
  method: "post",
  path: "/media/{media_id}/complete",
  tags: ["media"],
  summary: "Finish a multipart upload (every part present), or confirm a presigned single PUT",
  request: { params: idParam, query: CapabilityQuery },
  responses: { 200: jsonResponse(MediaStored, "Stored"), 409: errorResponse("conflict: parts missing (details.missing)"), ...capErrors },
});

const abortRoute = createRoute({
  security: capabilitySecurity,
  method: "delete",
  path: "/media/{media_id}/upload",
  tags: ["media"],
  summary: "Abandon a pending upload: stored parts are dropped, nothing remains",
  request: { params: idParam, query: CapabilityQuery },
  responses: { 204: { description: "Aborted" }, 409: errorResponse("conflict: already stored"), ...capErrors },
});

const downloadRoute = createRoute({
  // Either one: the download capability, or the bearer token of a member of a chat that referenced the media.
  security: [...capabilitySecurity, ...bearerSecurity],
  method: "get",
  path: "/media/{media_id}",
  tags: ["media"],
  summary: "Download the ciphertext (Range, ETag, immutable caching) with the download capability, or as a member of a chat that referenced it (bearer token, no ?cap=)",
  request: {
    params: idParam,
    query: CapabilityQuery,
    headers: z.object({ range: z.string().max(200).optional(), "if-none-match": z.string().max(200).optional() }),
  },
  responses: {
    200: { description: "The whole ciphertext", content: { "application/octet-stream": { schema: z.string().meta({ format: "binary" }) } } },
    206: { description: "The requested range (Content-Range)", content: { "application/octet-stream": { schema: z.string().meta({ format: "binary" }) } } },
    302: { description: "Presigned mode: fetch from R2 at Location" },
    304: { description: "Not modified (If-None-Match)" },
    416: errorResponse("range_not_satisfiable"),
    ...capErrors,
    401: errorResponse("unauthorized: neither a capability (?cap=) nor a bearer token; token_expired"),
    404: errorResponse("not_found: no such media (never created, expired), or (bearer) not referenced by any chat you are in"),
  },
});

const renewRoute = createRoute({
  ...deviceRoute("media"),
  method: "post",
  path: "/media/{media_id}/renew",
  // Both: a registered device holding the download capability.
  security: [{ ...bearerSecurity[0]!, ...capabilitySecurity[0]! }],
  summary: "Re-reference stored media (forwarding it): extends its expiry by the retention window; needs its download capability",
  request: { params: idParam, query: CapabilityQuery },
  responses: { 200: jsonResponse(MediaStored, "Renewed; use the new download_cap"), ...capErrors, 401: errorResponse("unauthorized: no bearer token, or no capability") },
});

export const mediaRoutes = new OpenAPIHono<AppEnv>()
  .openapi(slotRoute, async (c) => {
    const { size, content_class } = c.req.valid("json");
    const principal = c.get("principal");
    const slot = await createSlot(
      c.env,
      loadConfig(c.env),
      { accountId: principal.accountId, deviceId: principal.deviceId, size, contentClass: content_class },
      new URL(c.req.url).origin,
      Date.now(),
    );
    return c.json(slot, 200);
  })
  .openapi(putSingleRoute, async (c) => {
    const cfg = loadConfig(c.env);
    const now = Date.now();
    const row = await authorizedUpload(c.env, cfg, c.req.valid("param").media_id, c.req.valid("query").cap, now);
    return c.json(await putSingle(c.env, cfg, row, c.req.raw, now), 200);
  })
  .openapi(putPartRoute, async (c) => {
    const { media_id, part_number } = c.req.valid("param");
    const row = await authorizedUpload(c.env, loadConfig(c.env), media_id, c.req.valid("query").cap, Date.now());
    return c.json(await putPart(c.env, row, part_number, c.req.raw), 200);
  })
  .openapi(listPartsRoute, async (c) => {
    const row = await authorizedUpload(c.env, loadConfig(c.env), c.req.valid("param").media_id, c.req.valid("query").cap, Date.now());
    return c.json(await partsOf(c.env, row), 200);
  })
  .openapi(completeRoute, async (c) => {
    const cfg = loadConfig(c.env);
    const now = Date.now();
    const row = await authorizedUpload(c.env, cfg, c.req.valid("param").media_id, c.req.valid("query").cap, now);
    return c.json(await complete(c.env, cfg, row, now), 200);
  })
  .openapi(abortRoute, async (c) => {
    const row = await authorizedUpload(c.env, loadConfig(c.env), c.req.valid("param").media_id, c.req.valid("query").cap, Date.now());
    await abort(c.env, row);
    return c.body(null, 204);
  })
  .openapi(downloadRoute, async (c) => {
    const cfg = loadConfig(c.env);
    const now = Date.now();
    const mediaId = c.req.valid("param").media_id;
    const cap = c.req.valid("query").cap;
    const viaToken = cap === undefined && c.req.header("authorization") !== undefined;
    const row = viaToken
      ? await authorizedMemberDownload(c.env, mediaId, (await authenticate(c.env, c.req.raw, now)).accountId, now)
      : await authorizedDownload(c.env, cfg, mediaId, cap, now);
    return serveDownload(c.env, cfg, row, c.req.raw, now, viaToken);
  })
  .openapi(renewRoute, async (c) => {
    const cfg = loadConfig(c.env);
    const now = Date.now();
    const row = await authorizedDownload(c.env, cfg, c.req.valid("param").media_id, c.req.valid("query").cap, now);
    const expiresAt = Math.max(row.expiresAt, now + cfg.mediaRetentionDays * 86_400_000);
    if (row.etag === null) throw new ApiError("conflict", "media not stored");
    await extendExpiry(database(c.env.DB), row.id, expiresAt);
    return c.json(
      { media_id: row.id, size: row.size, etag: row.etag, expires_at: expiresAt, download_cap: await issueCapability(cfg.authTokenSecret, "download", row.id, expiresAt) },
      200,
    );
  });
