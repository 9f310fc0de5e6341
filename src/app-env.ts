/**
 * @module The Hono environment type shared by the app, middleware and routes.
 */
import type { DevicePrincipal } from "./auth/tokens";
import type { Env } from "./env";

export interface AppEnv {
  Bindings: Env;
  Variables: {
    /** Set by requireDevice: the authenticated device. */
    principal: DevicePrincipal;
    requestId: string;
  };
}
