/**
 * @module Verification and registration by handle, and account lookup.
 *
 * Registration: POST /v1/verifications {handle} sends a code through the configured sender;
 * POST /v1/accounts {verification_id, code, device keys} creates the account with its primary
 * device (id 1) and returns the device's first bearer token. The identity key is proven by the
 * signed prekey's signature, checked before anything is stored.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { deleteAccount } from "../accounts/deletion";
import type { AppEnv } from "../app-env";
import { checkNewDeviceKeys } from "../auth/device-keys";
import { issueToken } from "../auth/tokens";
import { loadConfig } from "../config";
import {
  claimVerification,
  countRecentVerifications,
  findAccount,
  findAccountByHandle,
  findVerification,
  insertAccountStatement,
  insertDeviceStatement,
  insertVerification,
  newDeviceRow,
  runBatch,
  spendVerificationAttempt,
} from "../db/accounts";
import { findHandleReservation } from "../db/handle-reservations";
import { database, type Db } from "../db/client";
import { prekeyInsertStatements } from "../db/prekeys";
import { ApiError } from "../errors";
import { VERIFICATION_MAX_ATTEMPTS, VERIFICATION_TTL_MS } from "../limits";
import { enforceIpRateLimit } from "../middleware/rate-limit";
import { AccountLookup, Registered, RegistrationRequest, VerificationRequest, VerificationStarted } from "../protocol/accounts";
import { AccountId } from "../protocol/common";
import { newAccountId } from "../protocol/jurisdiction";
import { inboxStub } from "../inbox";
import { locationHintFor } from "../placement";
import { Handle } from "../protocol/handles";
import { randomBytes } from "../random";
import { codeMatches, generateCode, hashCode } from "../verification/codes";
import { senderFor } from "../verification/senders";
import { authErrors, commonErrors, deviceRoute, errorResponse, jsonBody, jsonResponse } from "./openapi-helpers";

const PRIMARY_DEVICE_ID = 1;

/** Codes a handle may request per hour: stops SMS pumping through one number. */
const MAX_VERIFICATIONS_PER_HANDLE_PER_HOUR = 5;

const startVerification = createRoute({
  method: "post",
  path: "/verifications",
  tags: ["accounts"],
  summary: "Send a verification code to a handle",
  request: { body: jsonBody(VerificationRequest) },
  responses: {
    201: jsonResponse(VerificationStarted, "Code sent (with the dev sender, also returned as dev_code)"),
    409: errorResponse("handle_taken: an account already uses this handle"),
    502: errorResponse("upstream_failed: the verification gateway failed"),
    ...commonErrors,
  },
});

const register = createRoute({
  method: "post",
  path: "/accounts",
  tags: ["accounts"],
  summary: "Create an account with its primary device from a verified code",
  request: { body: jsonBody(RegistrationRequest) },
  responses: {
    201: jsonResponse(Registered, "Account and primary device created"),
    403: errorResponse("verification_failed: wrong code (details.attempts_left)"),
    404: errorResponse("not_found: unknown verification_id"),
    409: errorResponse("verification_used or handle_taken"),
    410: errorResponse("verification_expired"),
    ...commonErrors,
  },
});

const lookupByHandle = createRoute({
  ...deviceRoute("accounts"),
  method: "get",
  path: "/accounts/by-handle/{handle}",
  summary: "Find an account id by handle",
  request: { params: z.object({ handle: Handle }) },
  responses: { 200: jsonResponse(AccountLookup, "The account"), 404: errorResponse("not_found"), ...authErrors },
});

const getAccount = createRoute({
  ...deviceRoute("accounts"),
  method: "get",
  path: "/accounts/{account_id}",
  summary: "Get an account's public profile (its handle)",
  request: { params: z.object({ account_id: AccountId }) },
  responses: { 200: jsonResponse(AccountLookup, "The account"), 404: errorResponse("not_found"), ...authErrors },
});

/** A handle is free unless an account uses it or a deleted account's cooling-off period holds it. */
async function assertHandleFree(db: Db, handle: string, now: number): Promise<void> {
  if (await findAccountByHandle(db, handle)) throw new ApiError("handle_taken", "an account already uses this handle");
  const reservation = await findHandleReservation(db, handle, now);
  if (reservation) {
    throw new ApiError("handle_taken", "this handle belonged to a deleted account and is not available yet", { available_at: reservation.availableAt });
  }
}

const deleteAccountRoute = createRoute({
  ...deviceRoute("accounts"),
  method: "delete",
  path: "/accounts/me",
  summary: "Delete the caller's account and everything the server holds for it (primary device only)",
  responses: {
    ...authErrors,
    204: { description: "Deleted; the handle is reserved for the cooling-off period" },
    403: errorResponse("forbidden: only the primary device can delete the account"),
    404: errorResponse("not_found: the account is already deleted"),
  },
});

export const accountRoutes = new OpenAPIHono<AppEnv>()
  .openapi(startVerification, async (c) => {
    const { handle } = c.req.valid("json");
    await enforceIpRateLimit(c.env, c.req.raw, "verify");
    const db = database(c.env.DB);
    const config = loadConfig(c.env);
    const now = Date.now();
    await assertHandleFree(db, handle, now);
    if ((await countRecentVerifications(db, handle, now - 3_600_000)) >= MAX_VERIFICATIONS_PER_HANDLE_PER_HOUR) {
      throw new ApiError("rate_limited", "too many codes requested for this handle; try again later", undefined, 3600);
    }
    const id = crypto.randomUUID();
    const code = generateCode(randomBytes);
    const expiresAt = now + VERIFICATION_TTL_MS;
    await insertVerification(db, { id, handle, codeHash: await hashCode(config.authTokenSecret, id, code), createdAt: now, expiresAt });
    const { devCode } = await senderFor(config).send({ handle, code, expiresAt });
    return c.json({ verification_id: id, handle, expires_at: expiresAt, ...(devCode ? { dev_code: devCode } : {}) }, 201);
  })
  .openapi(register, async (c) => {
    const body = c.req.valid("json");
    await enforceIpRateLimit(c.env, c.req.raw, "register");
    const keys = body.device;
    const db = database(c.env.DB);
    const config = loadConfig(c.env);
    const now = Date.now();

    // Key checks first: a malformed upload must not burn a verification attempt.
    await checkNewDeviceKeys(keys);

    const verification = await findVerification(db, body.verification_id);
    if (!verification) throw new ApiError("not_found", "unknown verification_id");
    if (verification.usedAt !== null) throw new ApiError("verification_used", "this code was already used");
    if (now >= verification.expiresAt) throw new ApiError("verification_expired", "the code expired; request a new one");
    if (!(await spendVerificationAttempt(db, verification.id, VERIFICATION_MAX_ATTEMPTS))) {
      throw new ApiError("too_many_attempts", "too many wrong codes; request a new one");
    }
    if (!(await codeMatches(config.authTokenSecret, verification.id, body.code, verification.codeHash))) {
      const attemptsLeft = Math.max(0, VERIFICATION_MAX_ATTEMPTS - verification.attempts - 1);
      throw new ApiError("verification_failed", "wrong verification code", { attempts_left: attemptsLeft });
    }
    if (!(await claimVerification(db, verification.id, now))) throw new ApiError("verification_used", "this code was already used");
    await assertHandleFree(db, verification.handle, now);

    const accountId = newAccountId(body.jurisdiction);
    const ref = { accountId, deviceId: 1 };
    try {
      await runBatch(db, [
        insertAccountStatement(db, { id: accountId, handle: verification.handle, createdAt: now }),
        insertDeviceStatement(db, newDeviceRow(ref, keys, body.device_name ?? null, now)),
        ...prekeyInsertStatements(db, ref, keys.one_time_prekeys, keys.pq_one_time_prekeys),
      ]);
    } catch (err) {
      // Two registrations for one handle racing past the check above: the unique index decides.
      if (/UNIQUE constraint failed: accounts\.handle/.test(String(err))) {
        throw new ApiError("handle_taken", "an account already uses this handle");
      }
      throw err;
    }
    // The first call creates the inbox: near this device, or inside the account's jurisdiction.
    await inboxStub(c.env, ref, locationHintFor(c.req.raw, accountId)).isActive();
    const token = await issueToken(config.authTokenSecret, ref, config.authTokenTtlSeconds, now);
    return c.json(
      { account_id: accountId, device_id: 1, handle: verification.handle, token: token.token, token_expires_at: token.expiresAt },
      201,
    );
  })
  .openapi(lookupByHandle, async (c) => {
    const { handle } = c.req.valid("param");
    const account = await findAccountByHandle(database(c.env.DB), handle);
    if (!account) throw new ApiError("not_found", "no account with this handle");
    return c.json({ account_id: account.id, handle: account.handle }, 200);
  })
  .openapi(deleteAccountRoute, async (c) => {
    const principal = c.get("principal");
    if (principal.deviceId !== PRIMARY_DEVICE_ID) throw new ApiError("forbidden", "only the primary device can delete the account");
    await deleteAccount(c.env, principal.accountId, Date.now());
    return c.body(null, 204);
  })
  .openapi(getAccount, async (c) => {
    const { account_id } = c.req.valid("param");
    const account = await findAccount(database(c.env.DB), account_id);
    if (!account) throw new ApiError("not_found", "no such account");
    return c.json({ account_id: account.id, handle: account.handle }, 200);
  });
