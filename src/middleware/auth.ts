/**
 * @module Device authentication for every protected route: `Authorization: Bearer <token>` (or,
 * for WebSocket upgrades where browsers cannot set headers, the `token` query parameter). Verified
 * statelessly (HMAC, see src/auth/tokens.ts); sets `principal` on the context.
 *
 * A companion device's token is also checked against D1 (one primary-key read): a device that
 * was unlinked or logged out is refused at once, not only when its token expires. The primary
 * device cannot be removed (only its account deleted), so its requests need no read; this keeps
 * the primary's steady-state send path free of D1.
 */
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { verifyToken, type DevicePrincipal } from "../auth/tokens";
import { loadConfig } from "../config";
import { findActiveDevice } from "../db/accounts";
import { database } from "../db/client";
import type { Env } from "../env";
import { ApiError } from "../errors";

export async function authenticate(env: Env, request: Request, now: number): Promise<DevicePrincipal> {
  const header = request.headers.get("authorization");
  let token: string | null = null;
  if (header) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new ApiError("unauthorized", "Authorization header must be 'Bearer <token>'");
    token = match[1]!;
  } else if (request.headers.get("upgrade")?.toLowerCase() === "websocket") {
    token = new URL(request.url).searchParams.get("token");
  }
  if (!token) throw new ApiError("unauthorized", "missing bearer token");
  const check = await verifyToken(loadConfig(env).authTokenSecret, token, now);
  if (!check.ok) {
    if (check.reason === "expired") throw new ApiError("token_expired", "token expired: get a new one from POST /v1/auth/token");
    throw new ApiError("unauthorized", "invalid token");
  }
  if (check.principal.deviceId !== 1 && !(await findActiveDevice(database(env.DB), check.principal.accountId, check.principal.deviceId))) {
    // Socket upgrades keep their documented answer (410 device_removed, as the inbox gives it).
    if (!header) throw new ApiError("device_removed", "this device was removed");
    throw new ApiError("unauthorized", "this device was removed", { reason: "device_removed" });
  }
  return check.principal;
}

export const requireDevice = createMiddleware<AppEnv>(async (c, next) => {
  c.set("principal", await authenticate(c.env, c.req.raw, Date.now()));
  await next();
});
