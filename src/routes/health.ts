/**
 * @module GET /v1/health for deploy checks: configuration valid, D1 reachable, bindings present.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { loadConfig } from "../config";
import { jsonResponse } from "./openapi-helpers";

const Health = z
  .object({
    status: z.enum(["ok", "degraded"]),
    environment: z.string(),
    checks: z.record(z.string(), z.enum(["ok", "missing", "failed"])),
  })
  .meta({ id: "Health" });

const healthRoute = createRoute({
  method: "get",
  path: "/health",
  tags: ["ops"],
  summary: "Liveness and binding checks",
  responses: { 200: jsonResponse(Health, "Healthy"), 503: jsonResponse(Health, "A dependency failed") },
});

export const healthRoutes = new OpenAPIHono<AppEnv>().openapi(healthRoute, async (c) => {
  const config = loadConfig(c.env);
  const checks: Record<string, "ok" | "missing" | "failed"> = {};
  try {
    await c.env.DB.prepare("SELECT 1").first();
    checks.d1 = "ok";
  } catch {
    checks.d1 = "failed";
  }
  const bindings = {
    r2: c.env.MEDIA,
    r2_eu: c.env.MEDIA_EU,
    device_inbox: c.env.DEVICE_INBOX,
    chat_room: c.env.CHAT_ROOM,
    presence_room: c.env.PRESENCE_ROOM,
    fanout_queue: c.env.FANOUT_QUEUE,
    push_queue: c.env.PUSH_QUEUE,
    rate_limiter: c.env.RATE_LIMITER,
  };
  for (const [name, binding] of Object.entries(bindings)) checks[name] = binding ? "ok" : "missing";
  const healthy = Object.values(checks).every((v) => v === "ok");
  return c.json({ status: healthy ? "ok" : "degraded", environment: config.environment, checks }, healthy ? 200 : 503);
});
