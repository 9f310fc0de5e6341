/**
 * @module Authentication of the moderation API (/v1/admin/*): `Authorization: Bearer
 * <ADMIN_API_SECRET>`. Without the secret configured the API is off (403), so a deployment that
 * never set it exposes nothing. Compared as SHA-256 digests in constant time.
 */
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { loadConfig } from "../config";
import { ApiError } from "../errors";
import { bytesEqual, utf8 } from "../protocol/encoding";

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(text)));
}

export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const match = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "");
  if (!match) throw new ApiError("unauthorized", "admin secret required");
  const secret = loadConfig(c.env).adminApiSecret;
  if (!secret) throw new ApiError("forbidden", "the admin API is disabled: ADMIN_API_SECRET is not set");
  if (!bytesEqual(await digest(match[1]!), await digest(secret))) throw new ApiError("unauthorized", "wrong admin secret");
  await next();
});
