/**
 * @module Optional production mode (MEDIA_UPLOAD_MODE=presigned): R2 presigned URLs through its S3
 * API, AWS Signature V4 in the query string (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html),
 * so large bodies go from the client straight to R2 without passing through a Worker. Kept thin on
 * purpose: miniflare has no S3 endpoint, so this file cannot be exercised locally beyond its
 * signature (test/workers/media.test.ts checks it against AWS's published example). Only the
 * `host` header is signed, with an unsigned payload: R2 still checks the Content-Length it received.
 */
import type { Config } from "../config";
import { utf8 } from "../protocol/encoding";
import { accountJurisdiction } from "../protocol/jurisdiction";

export interface PresignConfig {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  region?: string;
  service?: string;
}

/**
 * Whether an owner's media goes through presigned URLs. They point at the default bucket only:
 * media of an account in a jurisdiction streams through the Worker into that jurisdiction's bucket.
 */
export function usesPresignedUrls(cfg: Config, ownerAccountId: string): boolean {
  return cfg.mediaUploadMode === "presigned" && accountJurisdiction(ownerAccountId) === undefined;
}

/** The presigner's settings from the validated configuration (present whenever the mode is presigned). */
export function presignConfig(cfg: Config): PresignConfig {
  return { endpoint: cfg.r2S3Endpoint!, bucket: cfg.r2BucketName!, accessKeyId: cfg.r2AccessKeyId!, secretAccessKey: cfg.r2SecretAccessKey! };
}

const hex = (bytes: ArrayBuffer) => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");

async function hmac(key: ArrayBuffer | Uint8Array<ArrayBuffer>, data: string): Promise<ArrayBuffer> {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return crypto.subtle.sign("HMAC", k, utf8(data));
}

/** RFC 3986 unreserved characters stay; everything else is percent-encoded (S3's rule). */
function encode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export async function presignUrl(
  cfg: PresignConfig,
  method: "GET" | "PUT",
  objectKey: string,
  expiresInSeconds: number,
  now: number,
  extraQuery: Record<string, string> = {},
): Promise<string> {
  const region = cfg.region ?? "auto";
  const service = cfg.service ?? "s3";
  const endpoint = new URL(cfg.endpoint);
  const amzDate = new Date(now).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${region}/${service}/aws4_request`;
  // Path-style (R2: https://<account>.r2.cloudflarestorage.com/<bucket>/<key>); an empty bucket
  // means the endpoint already names it (virtual-hosted style).
  const path = `/${[...(cfg.bucket ? [cfg.bucket] : []), ...objectKey.split("/")].map(encode).join("/")}`;
  const query: Record<string, string> = {
    ...extraQuery,
    "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
    "X-Amz-Credential": `${cfg.accessKeyId}/${scope}`,
    "X-Amz-Date": amzDate,
    "X-Amz-Expires": String(Math.min(604_800, Math.max(1, Math.floor(expiresInSeconds)))),
    "X-Amz-SignedHeaders": "host",
  };
  const canonicalQuery = Object.keys(query)
    .sort()
    .map((k) => `${encode(k)}=${encode(query[k]!)}`)
    .join("&");
  const canonicalRequest = [method, path, canonicalQuery, `host:${endpoint.host}`, "", "host", "UNSIGNED-PAYLOAD"].join("\n");
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, hex(await crypto.subtle.digest("SHA-256", utf8(canonicalRequest)))].join("\n");
  let key = await hmac(utf8(`AWS4${cfg.secretAccessKey}`), day);
  for (const part of [region, service, "aws4_request"]) key = await hmac(key, part);
  const signature = hex(await hmac(key, stringToSign));
  return `${endpoint.origin}${path}?${canonicalQuery}&X-Amz-Signature=${signature}`;
}
