/**
 * @module WebSocket upgrades the Worker hands to a Durable Object: check it is an upgrade,
 * authenticate the device token (header or ?token=), and build the request the object receives,
 * carrying only the identity the Worker verified (x-parley-* headers a client could forge are not
 * passed on, and the token is stripped from the URL). The object accepts the socket itself, with
 * the hibernation API.
 */
import type { DevicePrincipal } from "../auth/tokens";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { authenticate } from "./auth";

export async function authenticateUpgrade(env: Env, request: Request): Promise<DevicePrincipal> {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") throw new ApiError("upgrade_required", "expected a WebSocket upgrade");
  return authenticate(env, request, Date.now());
}

export function forwardedUpgrade(request: Request, principal: DevicePrincipal, extraHeaders: Record<string, string> = {}): Request {
  const url = new URL(request.url);
  url.searchParams.delete("token");
  return new Request(url.toString(), {
    headers: {
      upgrade: "websocket",
      "x-parley-account": principal.accountId,
      "x-parley-device": String(principal.deviceId),
      ...extraHeaders,
    },
  });
}
