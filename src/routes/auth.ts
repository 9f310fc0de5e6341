/**
 * @module Token issuance by proof of identity-key possession (no passwords):
 * 1. POST /v1/auth/challenge {account_id, device_id} -> {challenge} (stateless, valid 60 s)
 * 2. sign authChallengeSignedBytes(challenge) with the device's Ed25519 identity key
 * 3. POST /v1/auth/token {account_id, device_id, challenge, signature} -> {token, expires_at}
 * The challenge is single-use: the device's inbox records its nonce until it expires.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { verifyEd25519 } from "../auth/ed25519";
import { issueChallenge, issueToken, verifyChallenge } from "../auth/tokens";
import { loadConfig } from "../config";
import { findActiveDevice, recordDeviceActivity } from "../db/accounts";
import { database } from "../db/client";
import { inboxStub } from "../inbox";
import { ApiError } from "../errors";
import { DEVICE_ACTIVITY_WRITE_INTERVAL_MS } from "../limits";
import { enforceIpRateLimit } from "../middleware/rate-limit";
import { Challenge, ChallengeRequest, Token, TokenRequest } from "../protocol/accounts";
import { fromBase64, toBase64 } from "../protocol/encoding";
import { authChallengeSignedBytes } from "../protocol/key-signatures";
import { randomBytes } from "../random";
import { commonErrors, errorResponse, jsonBody, jsonResponse } from "./openapi-helpers";

const challengeRoute = createRoute({
  method: "post",
  path: "/auth/challenge",
  tags: ["auth"],
  summary: "Get a challenge to sign with the device identity key",
  request: { body: jsonBody(ChallengeRequest) },
  responses: { 200: jsonResponse(Challenge, "Sign authChallengeSignedBytes(challenge) within 60 s"), ...commonErrors },
});

const tokenRoute = createRoute({
  method: "post",
  path: "/auth/token",
  tags: ["auth"],
  summary: "Exchange a signed challenge for a short-lived bearer token",
  request: { body: jsonBody(TokenRequest) },
  responses: {
    200: jsonResponse(Token, "Bearer token for the device"),
    401: errorResponse("unauthorized: bad, expired or reused challenge, bad signature, unknown or removed device"),
    ...commonErrors,
  },
});

export const authRoutes = new OpenAPIHono<AppEnv>()
  .openapi(challengeRoute, async (c) => {
    const { account_id, device_id } = c.req.valid("json");
    await enforceIpRateLimit(c.env, c.req.raw, "auth");
    // No database lookup: a challenge for a device that does not exist simply never verifies,
    // and the endpoint reveals nothing about which devices exist.
    const issued = await issueChallenge(
      loadConfig(c.env).authTokenSecret,
      { accountId: account_id, deviceId: device_id },
      Date.now(),
      randomBytes,
    );
    return c.json({ challenge: toBase64(issued.challenge), expires_at: issued.expiresAt }, 200);
  })
  .openapi(tokenRoute, async (c) => {
    const body = c.req.valid("json");
    await enforceIpRateLimit(c.env, c.req.raw, "auth");
    const config = loadConfig(c.env);
    const principal = { accountId: body.account_id, deviceId: body.device_id };
    const now = Date.now();
    const challenge = fromBase64(body.challenge)!;
    const check = await verifyChallenge(config.authTokenSecret, principal, challenge, now);
    if (!check.ok) throw new ApiError("unauthorized", check.reason === "expired" ? "challenge expired" : "invalid challenge");
    const device = await findActiveDevice(database(c.env.DB), principal.accountId, principal.deviceId);
    if (!device) throw new ApiError("unauthorized", "unknown or removed device");
    const signed = authChallengeSignedBytes(challenge);
    if (!(await verifyEd25519(fromBase64(device.identityKey)!, signed, fromBase64(body.signature)!))) {
      throw new ApiError("unauthorized", "signature does not verify with the device identity key");
    }
    const fresh = await inboxStub(c.env, principal).consumeAuthNonce(toBase64(check.nonce), check.expiresAt);
    if (!fresh) throw new ApiError("unauthorized", "challenge already used");
    // Activity for the inactive-companion sweep (src/devices/inactive.ts): at most one write an hour.
    if (device.lastActiveAt === null || device.lastActiveAt < now - DEVICE_ACTIVITY_WRITE_INTERVAL_MS) {
      await recordDeviceActivity(database(c.env.DB), principal.accountId, principal.deviceId, now, DEVICE_ACTIVITY_WRITE_INTERVAL_MS);
    }
    const token = await issueToken(config.authTokenSecret, principal, config.authTokenTtlSeconds, now);
    return c.json({ token: token.token, expires_at: token.expiresAt, account_id: principal.accountId, device_id: principal.deviceId }, 200);
  });
