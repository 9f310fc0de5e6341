/**
 * Issue 2 acceptance: GET /v1/openapi.json describes every route the app mounts, and every route
 * but a short, explicit list of public ones declares bearerAuth and refuses requests without a
 * token. The routes come from the app's own router (createApp().routes), so a route added later is
 * covered without editing this file, and is protected unless someone deliberately lists it here.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { expectError } from "../support/errors";
import { call } from "../support/identity";
import { documentedOperations, examplePath, toOpenApiPath, type OpenApiDocument } from "../support/openapi";

const DOC_PATH = "/v1/openapi.json";

/** The only routes a client may call without a device token: health, registration, and login. */
const PUBLIC_ROUTES = [
  "get /v1/health",
  "post /v1/accounts",
  "post /v1/auth/challenge",
  "post /v1/auth/token",
  "post /v1/devices/link",
  "post /v1/provisioning",
  "post /v1/provisioning/{channel_id}/receive",
  "post /v1/verifications",
];

/** Media routes authorized by a capability (`?cap=`) instead of, or on top of, a device token. */
const CAPABILITY_ROUTES: Record<string, Record<string, string[]>[]> = {
  "put /v1/media/{media_id}/upload": [{ mediaCapability: [] }],
  "delete /v1/media/{media_id}/upload": [{ mediaCapability: [] }],
  "put /v1/media/{media_id}/parts/{part_number}": [{ mediaCapability: [] }],
  "get /v1/media/{media_id}/parts": [{ mediaCapability: [] }],
  "post /v1/media/{media_id}/complete": [{ mediaCapability: [] }],
  // Either one: the capability, or the bearer token of a member of a chat that referenced it.
  "get /v1/media/{media_id}": [{ mediaCapability: [] }, { bearerAuth: [] }],
  "post /v1/media/{media_id}/renew": [{ bearerAuth: [], mediaCapability: [] }],
};

/** The moderation API: the operator's ADMIN_API_SECRET, never a device token. */
const ADMIN_ROUTES: Record<string, Record<string, string[]>[]> = {
  "get /v1/admin/reports": [{ adminSecret: [] }],
  "put /v1/admin/accounts/{account_id}/suspension": [{ adminSecret: [] }],
  "delete /v1/admin/accounts/{account_id}/suspension": [{ adminSecret: [] }],
};

interface MountedRoute {
  key: string;
  method: string;
  path: string;
  protected: boolean;
}

/** Every method + path the router serves (app-wide middleware and the document itself excluded). */
function mountedRoutes(): MountedRoute[] {
  const byKey = new Map<string, MountedRoute>();
  for (const r of createApp().routes) {
    if (r.method === "ALL" || r.path === DOC_PATH) continue;
    const method = r.method.toLowerCase();
    const path = toOpenApiPath(r.path);
    const key = `${method} ${path}`;
    byKey.set(key, { key, method, path, protected: !PUBLIC_ROUTES.includes(key) });
  }
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

let doc: OpenApiDocument;
beforeAll(async () => {
  const res = await call("GET", DOC_PATH);
  expect(res.status).toBe(200);
  doc = res.body;
});

describe("the OpenAPI document", () => {
  it("is OpenAPI 3.1 and served without authentication", () => {
    expect(doc.openapi).toBe("3.1.0");
  });

  it("lists exactly the routes the app mounts", () => {
    const mounted = mountedRoutes().map((r) => r.key);
    // Sanity: the router walk found the identity layer's routes.
    expect(mounted).toEqual(expect.arrayContaining(["post /v1/verifications", "post /v1/auth/token", "get /v1/keys/bundle/{account_id}"]));
    const documented = documentedOperations(doc)
      .map((op) => `${op.method} ${op.path}`)
      .sort();
    expect(new Set(documented).size).toBe(documented.length);
    expect(documented).toEqual(mounted);
  });

  it("declares bearerAuth on every route but the public ones", () => {
    expect(doc.components?.securitySchemes?.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    const routes = mountedRoutes();
    expect(routes.filter((r) => r.protected).length).toBeGreaterThanOrEqual(8);
    const declared = Object.fromEntries(
      documentedOperations(doc).map((op) => [`${op.method} ${op.path}`, op.operation.security ?? null] as const),
    );
    const expected = Object.fromEntries(routes.map((r) => [r.key, r.protected ? (CAPABILITY_ROUTES[r.key] ?? ADMIN_ROUTES[r.key] ?? [{ bearerAuth: [] }]) : null] as const));
    expect(declared).toEqual(expected);
    // Every public route still exists (a renamed one must be renamed here too).
    expect(routes.filter((r) => !r.protected).map((r) => r.key)).toEqual(PUBLIC_ROUTES);
  });

  it("documents a 401 for every protected route and a success response for every route", () => {
    const protectedKeys = new Set(mountedRoutes().filter((r) => r.protected).map((r) => r.key));
    for (const op of documentedOperations(doc)) {
      const statuses = Object.keys(op.operation.responses ?? {});
      // 2xx, or 101 Switching Protocols for WebSocket upgrades.
      expect(statuses.some((s) => s.startsWith("2") || s === "101"), `${op.method} ${op.path}`).toBe(true);
      if (protectedKeys.has(`${op.method} ${op.path}`)) expect(statuses, `${op.method} ${op.path}`).toContain("401");
    }
  });
});

describe("protected routes refuse requests without a token", () => {
  it.each(mountedRoutes().filter((r) => r.protected).map((r) => [r.key, r] as const))("%s", async (_key, route) => {
    const withBody = route.method === "put" || route.method === "post";
    // WebSocket routes (documented with 101) answer plain requests 426 before looking at tokens.
    const documented = documentedOperations(doc).find((op) => op.method === route.method && op.path === route.path);
    const upgrade = Object.keys(documented?.operation.responses ?? {}).includes("101");
    const res = await call(route.method.toUpperCase(), examplePath(route.path), {
      ...(withBody ? { body: {} } : {}),
      ...(upgrade ? { headers: { upgrade: "websocket" } } : {}),
    });
    expectError(res, "unauthorized");
  });
});
