/**
 * Issue 8 through the real Worker with local R2 and D1: slots, single and multipart uploads
 * (interrupted, then resumed), ranged and cached downloads, capability checks, size and quota
 * limits, abort, renew and the retention sweep, and downloads by chat members of media a send
 * declared (media_ids). The bodies here are opaque random bytes, as the
 * server sees them; the SDK's encryption, decryption, tamper checks and the "no plaintext in
 * storage" check run end to end against wrangler dev in test/node/media-e2e.test.ts.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { cleanupMedia } from "../../src/media/cleanup";
import { mediaObjectKey } from "../../src/media/keys";
import { presignUrl } from "../../src/media/presign";
import { database } from "../../src/db/client";
import { findMedia } from "../../src/db/media";
import { expectError } from "../support/errors";
import { createGroup, groupSend } from "../support/groups";
import { call, register, type RegisteredDevice } from "../support/identity";
import { asRecipient, newMsgId, send } from "../support/messaging";

const MIB = 1024 * 1024;
/** Opaque test bodies (the server never sees anything else): random bytes in 64 KiB draws. */
function randomBody(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let o = 0; o < size; o += 65_536) crypto.getRandomValues(out.subarray(o, Math.min(size, o + 65_536)));
  return out;
}

async function raw(method: string, path: string, init: RequestInit & { envOverride?: Record<string, string> } = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`http://parley.test${path}`, { method, ...init }), { ...env, ...(init.envOverride ?? {}) }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** Compares large buffers without letting a failure print a multi-megabyte diff. */
function firstDifference(a: Uint8Array, b: Uint8Array): string {
  if (a.length !== b.length) return `lengths ${a.length} and ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `byte ${i}`;
  return "equal";
}

async function bytesOf(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}

let alice: RegisteredDevice;
beforeAll(async () => {
  alice = await register();
});

async function slot(size: number, envOverride?: Record<string, string>) {
  const res = await call("POST", "/v1/media", { token: alice.token, body: { size, content_class: "document" }, ...(envOverride ? { env: envOverride } : {}) });
  return res;
}

describe("single upload and download (1 MiB)", () => {
  const body = randomBody(MIB + 5 + 4 * 16);
  let stored: { media_id: string; download_cap: string; etag: string; size: number };

  it("stores exactly the uploaded bytes and serves them back with cache headers", async () => {
    const s = await slot(body.length);
    expect(s.status, JSON.stringify(s.body)).toBe(200);
    expect(s.body.upload).toMatchObject({ mode: "single", method: "PUT", complete_required: false });
    const url = new URL(s.body.upload.url);
    const put = await raw("PUT", url.pathname + url.search, { body, headers: { "content-type": "application/octet-stream" } });
    expect(put.status, await put.clone().text()).toBe(200);
    stored = await put.json();
    expect(stored).toMatchObject({ media_id: s.body.media_id, size: body.length });

    const object = await env.MEDIA.get(mediaObjectKey(stored.media_id));
    const inR2 = new Uint8Array(await object!.arrayBuffer());
    expect(firstDifference(inR2, body)).toBe("equal");

    const got = await raw("GET", `/v1/media/${stored.media_id}?cap=${stored.download_cap}`);
    expect(got.status).toBe(200);
    expect(got.headers.get("etag")).toBe(`"${stored.etag}"`);
    expect(got.headers.get("cache-control")).toMatch(/^public, max-age=\d+, immutable$/);
    expect(got.headers.get("accept-ranges")).toBe("bytes");
    expect(firstDifference(await bytesOf(got), body)).toBe("equal");
  });

  it("serves Range requests (206 + Content-Range), 304 on a matching ETag, 416 outside", async () => {
    const url = `/v1/media/${stored.media_id}?cap=${stored.download_cap}`;
    const got = await raw("GET", url, { headers: { range: "bytes=300000-300099" } });
    expect(got.status).toBe(206);
    expect(got.headers.get("content-range")).toBe(`bytes 300000-300099/${body.length}`);
    expect(got.headers.get("content-length")).toBe("100");
    expect(firstDifference(await bytesOf(got), body.subarray(300_000, 300_100))).toBe("equal");
    const suffix = await raw("GET", url, { headers: { range: "bytes=-10" } });
    expect(suffix.status).toBe(206);
    expect(firstDifference(await bytesOf(suffix), body.subarray(body.length - 10))).toBe("equal");
    const open = await raw("GET", url, { headers: { range: `bytes=${body.length - 3}-` } });
    expect(firstDifference(await bytesOf(open), body.subarray(body.length - 3))).toBe("equal");

    const cached = await raw("GET", `/v1/media/${stored.media_id}?cap=${stored.download_cap}`, { headers: { "if-none-match": `"${stored.etag}"` } });
    expect(cached.status).toBe(304);

    const outside = await raw("GET", `/v1/media/${stored.media_id}?cap=${stored.download_cap}`, { headers: { range: `bytes=${body.length}-` } });
    expect(outside.status).toBe(416);
    expect(outside.headers.get("content-range")).toBe(`bytes */${body.length}`);
    expect((await outside.json<{ error: { code: string } }>()).error.code).toBe("range_not_satisfiable");
  });

  it("refuses downloads without, with a forged, with another media's, or with an upload capability", async () => {
    expectError(await call("GET", `/v1/media/${stored.media_id}`), "unauthorized");
    const forged = stored.download_cap.replace(/.$/, (c) => (c === "A" ? "B" : "A"));
    expectError(await call("GET", `/v1/media/${stored.media_id}?cap=${forged}`), "forbidden");
    const other = await slot(100);
    expectError(await call("GET", `/v1/media/${other.body.media_id}?cap=${stored.download_cap}`), "forbidden");
    expectError(await call("GET", `/v1/media/${other.body.media_id}?cap=${other.body.cap}`), "forbidden");
    // Media ids are checked before anything else.
    expectError(await call("GET", `/v1/media/not-an-id?cap=${stored.download_cap}`), "invalid_request");
  });

  it("keeps stored media immutable", async () => {
    const again = await slot(10);
    const url = new URL(again.body.upload.url);
    expect((await raw("PUT", url.pathname + url.search, { body: new Uint8Array(10) })).status).toBe(200);
    expectError(await call("PUT", url.pathname + url.search, { raw: new Uint8Array(10), contentType: "application/octet-stream" }), "conflict");
  });

  it("renews the expiry for a device holding the download capability", async () => {
    expectError(await call("POST", `/v1/media/${stored.media_id}/renew?cap=${stored.download_cap}`), "unauthorized");
    const renewed = await call("POST", `/v1/media/${stored.media_id}/renew?cap=${stored.download_cap}`, { token: alice.token });
    expect(renewed.status).toBe(200);
    expect(renewed.body.expires_at).toBeGreaterThanOrEqual(Date.now() + 29 * 86_400_000);
    expect((await raw("GET", `/v1/media/${stored.media_id}?cap=${renewed.body.download_cap}`)).status).toBe(200);
  });
});

describe("downloads by members of a chat that referenced the media", () => {
  let bob: RegisteredDevice;
  let carol: RegisteredDevice;
  let mediaId: string;
  const body = randomBody(4096);
  const asDevice = (device: RegisteredDevice, id = mediaId, headers: Record<string, string> = {}) =>
    raw("GET", `/v1/media/${id}`, { headers: { authorization: `Bearer ${device.token}`, ...headers } });

  beforeAll(async () => {
    [bob, carol] = await Promise.all([register(), register()]);
    const s = await slot(body.length);
    const url = new URL(s.body.upload.url);
    expect((await raw("PUT", url.pathname + url.search, { body })).status).toBe(200);
    mediaId = s.body.media_id;
  });

  it("lets the uploader download with its token, and nobody else before a send references it", async () => {
    expect(firstDifference(await bytesOf(await asDevice(alice)), body)).toBe("equal");
    const refused = await asDevice(bob);
    expect(refused.status).toBe(404);
    // The same answer as for an id that does not exist: nothing learned about the id.
    const unknown = await asDevice(bob, `m_${"0".repeat(32)}`);
    expect(unknown.status).toBe(404);
    expect(await refused.json()).toEqual(await unknown.json());
    expectError(await call("GET", `/v1/media/${mediaId}`, { headers: { authorization: "Bearer nonsense" } }), "unauthorized");
  });

  it("refuses a send naming media the sender may not reference, or malformed ids, and delivers nothing", async () => {
    const bobDevice = [asRecipient(bob)];
    const foreign = await send(carol, bob.accountId, bobDevice, newMsgId(), { media_ids: [mediaId] });
    expectError(foreign, "not_found");
    const unknown = await send(carol, bob.accountId, bobDevice, newMsgId(), { media_ids: [`m_${"1".repeat(32)}`] });
    expect(unknown.body.error.message).toBe(foreign.body.error.message);
    expectError(await send(alice, bob.accountId, bobDevice, newMsgId(), { media_ids: ["m_nothex"] }), "invalid_request");
    expectError(await send(alice, bob.accountId, bobDevice, newMsgId(), { media_ids: Array(33).fill(mediaId) }), "invalid_request");
    expect((await asDevice(carol)).status).toBe(404);
  });

  it("lets both parties of a 1:1 chat download after a send declares it, ranges included; outsiders still get 404", async () => {
    const msgId = newMsgId();
    const sent = await send(alice, bob.accountId, [asRecipient(bob)], msgId, { media_ids: [mediaId] });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    const got = await asDevice(bob);
    // Authorized by a token, not the URL: a shared cache must not serve it to others.
    expect(got.headers.get("cache-control")).toMatch(/^private, /);
    expect(firstDifference(await bytesOf(got), body)).toBe("equal");
    const ranged = await asDevice(bob, mediaId, { range: "bytes=10-19" });
    expect(ranged.status).toBe(206);
    expect(firstDifference(await bytesOf(ranged), body.subarray(10, 20))).toBe("equal");
    expect((await asDevice(carol)).status).toBe(404);

    // Re-referencing (here: the same send again, a duplicate) moves the expiry to a full window from now.
    const db = database(env.DB);
    const soon = Date.now() + 60_000;
    await env.DB.prepare("UPDATE media SET expires_at = ? WHERE id = ?").bind(soon, mediaId).run();
    const again = await send(alice, bob.accountId, [asRecipient(bob)], msgId, { media_ids: [mediaId] });
    expect(again.body.duplicate).toBe(true);
    expect((await findMedia(db, mediaId))!.expiresAt).toBeGreaterThanOrEqual(Date.now() + 29 * 86_400_000);
  });

  it("lets a member forward it: the new chat's members may download too", async () => {
    expectError(await send(carol, bob.accountId, [asRecipient(bob)], newMsgId(), { media_ids: [mediaId] }), "not_found");
    const forwarded = await send(bob, carol.accountId, [asRecipient(carol)], newMsgId(), { media_ids: [mediaId] });
    expect(forwarded.status, JSON.stringify(forwarded.body)).toBe(200);
    expect(firstDifference(await bytesOf(await asDevice(carol)), body)).toBe("equal");
  });

  it("lets current members of a group that referenced it download, and not a removed member", async () => {
    const dave = await register();
    const chatId = (await createGroup(alice, [dave.accountId])).body.chat_id as string;
    expect((await asDevice(dave)).status).toBe(404);
    const sent = await groupSend(alice, chatId, { distributions: [asRecipient(dave)], mediaIds: [mediaId] });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(firstDifference(await bytesOf(await asDevice(dave)), body)).toBe("equal");
    expect((await call("DELETE", `/v1/groups/${chatId}/members/${dave.accountId}`, { token: alice.token })).status).toBeLessThan(300);
    expect((await asDevice(dave)).status).toBe(404);
  });
});

describe("declared sizes and limits", () => {
  it("refuses a body shorter or longer than declared and stores nothing", async () => {
    const s = await slot(1000);
    const url = new URL(s.body.upload.url);
    const path = url.pathname + url.search;
    expectError(await call("PUT", path, { raw: new Uint8Array(999), contentType: "application/octet-stream" }), "invalid_request");
    expectError(await call("PUT", path, { raw: new Uint8Array(1001), contentType: "application/octet-stream" }), "invalid_request");
    // A streamed body (no Content-Length) that ends early: the guard stops it.
    const short = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(600));
        c.close();
      },
    });
    const res = await raw("PUT", path, { body: short, duplex: "half" } as RequestInit);
    expect(res.status).toBe(400);
    expect(await env.MEDIA.head(mediaObjectKey(s.body.media_id))).toBeNull();
    const parts = await call("GET", `/v1/media/${s.body.media_id}/parts?cap=${s.body.cap}`);
    expect(parts.body.state).toBe("pending");
    expect((await raw("PUT", path, { body: new Uint8Array(1000) })).status).toBe(200);
  });

  it("refuses a declared size above MEDIA_MAX_BYTES and beyond the daily quota", async () => {
    expectError(await slot(2 * MIB, { MEDIA_MAX_BYTES: String(MIB) }), "payload_too_large");
    const quota = { MEDIA_DAILY_QUOTA_BYTES: String(4 * MIB) };
    const bob = await register();
    const first = await call("POST", "/v1/media", { token: bob.token, body: { size: 3 * MIB, content_class: "video" }, env: quota });
    expect(first.status).toBe(200);
    const second = await call("POST", "/v1/media", { token: bob.token, body: { size: 2 * MIB, content_class: "video" }, env: quota });
    expect(expectError(second, "quota_exceeded").details).toEqual({ quota_bytes: 4 * MIB, used_bytes: 3 * MIB });
    // Retry-After: when the first slot leaves the rolling day, so just under 24 hours from now.
    const retryAfter = Number(second.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(86_400 - 120);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    expectError(await call("POST", "/v1/media", { token: bob.token, body: { size: 0, content_class: "video" } }), "invalid_request");
    expectError(await call("POST", "/v1/media", { token: bob.token, body: { size: 10, content_class: "executable" } }), "invalid_request");
    expectError(await call("POST", "/v1/media", { body: { size: 10, content_class: "video" } }), "unauthorized");
  });
});

describe("multipart upload, interrupted and resumed", () => {
  const small = { MEDIA_SINGLE_PUT_MAX_BYTES: String(MIB), MEDIA_PART_BYTES: String(5 * MIB) };
  const body = randomBody(11 * MIB);
  let s: { media_id: string; cap: string; upload: { mode: string; part_bytes: number; part_count: number } };

  const part = (n: number) => body.subarray((n - 1) * 5 * MIB, n * 5 * MIB);
  const partPath = (n: number) => `/v1/media/${s.media_id}/parts/${n}?cap=${s.cap}`;

  it("hands out parts of the configured size", async () => {
    const res = await slot(body.length, small);
    expect(res.status).toBe(200);
    s = res.body;
    expect(s.upload).toEqual({ mode: "multipart", part_bytes: 5 * MIB, part_count: 3 });
  });

  it("loses nothing but the interrupted part, reports the stored ones, and completes after resuming", async () => {
    expect((await raw("PUT", partPath(1), { body: part(1) })).status).toBe(200);
    // The connection drops half way through part 2.
    const cut = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(part(2).slice(0, 2 * MIB));
        c.close();
      },
    });
    expect((await raw("PUT", partPath(2), { body: cut, duplex: "half" } as RequestInit)).status).toBe(400);
    const listed = await call("GET", `/v1/media/${s.media_id}/parts?cap=${s.cap}`);
    expect(listed.body).toMatchObject({ state: "pending", part_count: 3, parts: [{ part_number: 1, size: 5 * MIB }] });
    const early = expectError(await call("POST", `/v1/media/${s.media_id}/complete?cap=${s.cap}`), "conflict");
    expect(early.details).toEqual({ missing: [2, 3] });
    // Nothing is downloadable before completion.
    expect(await env.MEDIA.head(mediaObjectKey(s.media_id))).toBeNull();

    expectError(await call("PUT", partPath(4), { raw: new Uint8Array(10), contentType: "application/octet-stream" }), "invalid_request");
    expectError(await call("PUT", partPath(3), { raw: new Uint8Array(10), contentType: "application/octet-stream" }), "invalid_request");
    expect((await raw("PUT", partPath(3), { body: part(3) })).status).toBe(200);
    expect((await raw("PUT", partPath(2), { body: part(2) })).status).toBe(200);
    const done = await call("POST", `/v1/media/${s.media_id}/complete?cap=${s.cap}`);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    const got = await raw("GET", `/v1/media/${s.media_id}?cap=${done.body.download_cap}`);
    expect(firstDifference(await bytesOf(got), body)).toBe("equal");
  });

  it("aborts a pending upload, leaving nothing behind", async () => {
    const res = await slot(6 * MIB, small);
    const p = res.body;
    expect((await raw("PUT", `/v1/media/${p.media_id}/parts/1?cap=${p.cap}`, { body: new Uint8Array(5 * MIB) })).status).toBe(200);
    expect((await raw("DELETE", `/v1/media/${p.media_id}/upload?cap=${p.cap}`)).status).toBe(204);
    expectError(await call("GET", `/v1/media/${p.media_id}/parts?cap=${p.cap}`), "not_found");
    expect(await env.MEDIA.head(mediaObjectKey(p.media_id))).toBeNull();
  });
});

describe("retention", () => {
  it("removes expired media and aborts stale uploads", async () => {
    const a = await slot(100);
    const url = new URL(a.body.upload.url);
    const stored = await (await raw("PUT", url.pathname + url.search, { body: new Uint8Array(100) })).json<{ download_cap: string }>();
    const stale = await slot(6 * MIB, { MEDIA_SINGLE_PUT_MAX_BYTES: String(MIB), MEDIA_PART_BYTES: String(5 * MIB) });
    expect((await raw("PUT", `/v1/media/${stale.body.media_id}/parts/1?cap=${stale.body.cap}`, { body: new Uint8Array(5 * MIB) })).status).toBe(200);

    // Nothing is due yet.
    const before = await cleanupMedia(env, Date.now());
    expect(await env.MEDIA.head(mediaObjectKey(a.body.media_id))).not.toBeNull();
    expect(before.deleted).toBe(0);

    const later = await cleanupMedia(env, Date.now() + 31 * 86_400_000);
    expect(later.deleted).toBeGreaterThanOrEqual(1);
    expect(later.aborted).toBeGreaterThanOrEqual(1);
    expect(await env.MEDIA.head(mediaObjectKey(a.body.media_id))).toBeNull();
    expectError(await call("GET", `/v1/media/${a.body.media_id}?cap=${stored.download_cap}`), "not_found");
    expectError(await call("GET", `/v1/media/${stale.body.media_id}/parts?cap=${stale.body.cap}`), "not_found");
    const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM media").first<{ n: number }>();
    expect(rows!.n).toBe(0);
  });

  it("runs from the Worker's scheduled handler (the cron trigger)", async () => {
    const a = await slot(100);
    const url = new URL(a.body.upload.url);
    expect((await raw("PUT", url.pathname + url.search, { body: new Uint8Array(100) })).status).toBe(200);
    await env.DB.prepare("UPDATE media SET expires_at = 1 WHERE id = ?").bind(a.body.media_id).run();
    const ctx = createExecutionContext();
    await worker.scheduled!(createScheduledController({ scheduledTime: Date.now(), cron: "17 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await env.MEDIA.head(mediaObjectKey(a.body.media_id))).toBeNull();
  });
});

describe("presigned mode's URL signer", () => {
  it("reproduces AWS's SigV4 query-string example (GET examplebucket/test.txt)", async () => {
    // https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
    const url = await presignUrl(
      {
        endpoint: "https://examplebucket.s3.amazonaws.com",
        bucket: "",
        accessKeyId: "AKIAIOSFODNN7EXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region: "us-east-1",
      },
      "GET",
      "test.txt",
      86_400,
      Date.UTC(2013, 4, 24),
    );
    expect(url).toBe(
      "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
    );
  });

  it("hands out presigned single-upload URLs when configured", async () => {
    const presigned = {
      MEDIA_UPLOAD_MODE: "presigned",
      R2_S3_ENDPOINT: "https://0123456789abcdef.r2.cloudflarestorage.com",
      R2_BUCKET_NAME: "parley-media",
      R2_ACCESS_KEY_ID: "0123456789abcdef0123",
      R2_SECRET_ACCESS_KEY: "0123456789abcdef0123456789abcdef",
    };
    const s = await slot(100, presigned);
    expect(s.body.upload.complete_required).toBe(true);
    expect(s.body.upload.url).toMatch(new RegExp(`^https://0123456789abcdef\\.r2\\.cloudflarestorage\\.com/parley-media/media/${s.body.media_id}\\?X-Amz-Algorithm=AWS4-HMAC-SHA256&.*X-Amz-Signature=[0-9a-f]{64}$`));
    // Half a configuration is a clear configuration error, not a broken URL.
    const broken = await slot(100, { MEDIA_UPLOAD_MODE: "presigned" });
    expect(broken.body.error.code).toBe("config_invalid");
    expect(broken.body.error.message).toMatch(/R2_S3_ENDPOINT/);
  });
});
