/**
 * @module The HTTP API: mounts every /v1 resource, the single error handler, the body limit, and
 * the OpenAPI document generated from the same zod schemas (GET /v1/openapi.json).
 * `AppType` carries the route types to the SDK (import type only).
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "./app-env";
import { ApiError, errorResponse } from "./errors";
import { MAX_GROUP_MESSAGE_BODY_BYTES, MAX_JSON_BODY_BYTES, MAX_MESSAGE_BODY_BYTES } from "./limits";
import { logEvent } from "./log";
import { accountRoutes } from "./routes/accounts";
import { adminRoutes } from "./routes/admin";
import { authRoutes } from "./routes/auth";
import { blockRoutes } from "./routes/blocks";
import { deviceRoutes } from "./routes/devices";
import { groupRoutes } from "./routes/groups";
import { healthRoutes } from "./routes/health";
import { keyRoutes } from "./routes/keys";
import { isMediaBodyRequest, mediaRoutes } from "./routes/media";
import { messageRoutes } from "./routes/messages";
import { presenceRoutes } from "./routes/presence";
import { provisioningRoutes } from "./routes/provisioning";
import { pushRoutes } from "./routes/push";
import { reportRoutes } from "./routes/reports";

/** Turns zod validation failures into one readable 400 listing each problem and where it is. */
function validationHook(result: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] }; target?: string }) {
  if (result.success) return;
  const issues = (result.error?.issues ?? []).map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
  const where = result.target === "json" ? "body" : (result.target ?? "request");
  const first = issues[0];
  throw new ApiError("invalid_request", first ? `invalid ${where}: ${first.path || "(root)"}: ${first.message}` : `invalid ${where}`, { issues });
}

export function createApp() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  // Request id (the edge's cf-ray when present) on the context, the response and every log line;
  // one log line per request with the matched route, never the URL (socket URLs carry tokens).
  app.use("*", async (c, next) => {
    const requestId = c.req.header("cf-ray") ?? crypto.randomUUID();
    c.set("requestId", requestId);
    const started = Date.now();
    await next();
    c.header("x-request-id", requestId);
    logEvent(c.res.status >= 500 ? "error" : "info", "request", {
      request_id: requestId,
      method: c.req.method,
      route: c.req.routePath,
      status: c.res.status,
      ms: Date.now() - started,
    });
  });

  app.use("/v1/*", async (c, next) => {
    if (isMediaBodyRequest(c.req.method, c.req.path)) return next();
    const type = c.req.header("content-type");
    if (c.req.method !== "GET" && c.req.method !== "DELETE" && c.req.method !== "HEAD" && type !== undefined && !/^application\/json\b/i.test(type)) {
      throw new ApiError("unsupported_media_type", "request bodies must be application/json");
    }
    await next();
  });
  const limitBody = (maxSize: number) =>
    bodyLimit({
      maxSize,
      onError: () => {
        throw new ApiError("payload_too_large", `request body exceeds ${maxSize} bytes`);
      },
    });
  const messageBodyLimit = limitBody(MAX_MESSAGE_BODY_BYTES);
  const jsonBodyLimit = limitBody(MAX_JSON_BODY_BYTES);
  const groupMessageBodyLimit = limitBody(MAX_GROUP_MESSAGE_BODY_BYTES);
  const bodyLimitFor = (path: string) =>
    path === "/v1/messages" ? messageBodyLimit : /^\/v1\/groups\/[^/]+\/messages$/.test(path) ? groupMessageBodyLimit : jsonBodyLimit;
  app.use("/v1/*", (c, next) =>
    // Media bodies are bounded by their declared size instead (src/media/exact-body.ts).
    isMediaBodyRequest(c.req.method, c.req.path) ? next() : bodyLimitFor(c.req.path)(c, next),
  );

  const routes = app
    .route("/v1", healthRoutes)
    .route("/v1", accountRoutes)
    .route("/v1", authRoutes)
    .route("/v1", deviceRoutes)
    .route("/v1", provisioningRoutes)
    .route("/v1", keyRoutes)
    .route("/v1", messageRoutes)
    .route("/v1", groupRoutes)
    .route("/v1", presenceRoutes)
    .route("/v1", pushRoutes)
    .route("/v1", mediaRoutes)
    .route("/v1", blockRoutes)
    .route("/v1", reportRoutes)
    .route("/v1", adminRoutes);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description: "Device token from POST /v1/accounts or POST /v1/auth/token (see docs/API.md)",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "mediaCapability", {
    type: "apiKey",
    in: "query",
    name: "cap",
    description: "Media capability from POST /v1/media (upload) or from the stored response (download); see docs/API.md",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "adminSecret", {
    type: "http",
    scheme: "bearer",
    description: "The operator's ADMIN_API_SECRET (moderation API only; see docs/OPERATIONS.md)",
  });
  app.doc31("/v1/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Parley API",
      version: "1.0.0",
      description: "End-to-end-encrypted messaging relay. The server stores public keys and ciphertext only.",
    },
  });

  app.notFound((c) => errorResponse(c, new ApiError("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`)));
  app.onError((err, c) => errorResponse(c, err));
  return routes;
}

export type AppType = ReturnType<typeof createApp>;
