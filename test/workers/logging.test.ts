/**
 * Logs: every request gets a request id (also in the response), refused sends log their msg_id
 * for correlation (accepted ones too at LOG_LEVEL=debug), and nothing secret or private ever
 * reaches a log line: no tokens, no verification codes, no ciphertext, no signatures.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { call, login, register } from "../support/identity";
import { asRecipient, envelopesFor, InboxSocket, newMsgId } from "../support/messaging";

let lines: string[] = [];

beforeEach(() => {
  lines = [];
  // The Worker and its Durable Objects run in this isolate: their console is this console.
  const capture = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
  vi.spyOn(console, "log").mockImplementation(capture);
  vi.spyOn(console, "error").mockImplementation(capture);
  vi.spyOn(console, "warn").mockImplementation(capture);
});

afterEach(() => vi.restoreAllMocks());

function parsed(): Record<string, unknown>[] {
  return lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

describe("logs", () => {
  it("correlate requests and messages and never contain tokens, codes or ciphertext", async () => {
    const started = await call("POST", "/v1/verifications", { body: { handle: `logger${Math.floor(Math.random() * 1e6)}` } });
    const code = started.body.dev_code as string;
    const alice = await register();
    const bob = await register();
    const fresh = await login(alice);
    const msgId = newMsgId();
    const envelopes = envelopesFor(msgId, [asRecipient(bob)]);
    const sent = await call("POST", "/v1/messages", { token: fresh.body.token, body: { to: bob.accountId, msg_id: msgId, envelopes } });
    expect(sent.status).toBe(200);
    expect(sent.headers.get("x-request-id")).toMatch(/.+/);
    const socket = await InboxSocket.open(bob);
    await socket.drain();
    socket.close();
    expect((await call("GET", "/v1/devices", { token: "pt1.forged.token" })).status).toBe(401);

    const secrets = [code, alice.token, bob.token, fresh.body.token as string, envelopes[0]!.content, alice.identityKey];
    for (const line of lines) for (const secret of secrets) expect(line.includes(secret), `a log line contains a secret: ${line}`).toBe(false);

    const entries = parsed();
    const sendLine = entries.find((e) => e.event === "request" && e.route === "/v1/messages");
    expect(sendLine).toMatchObject({ method: "POST", status: 200, request_id: sent.headers.get("x-request-id") });
    // Socket URLs carry the token in the query: the log names the route, not the URL.
    expect(entries.some((e) => e.event === "request" && e.route === "/v1/socket")).toBe(true);
  });

  it("write a line per accepted message only at LOG_LEVEL=debug, and one per refused send at any level", async () => {
    const alice = await register();
    const bob = await register();
    const body = (msgId: string) => ({ to: bob.accountId, msg_id: msgId, envelopes: envelopesFor(msgId, [asRecipient(bob)]) });
    const submitted = (msgId: string) => parsed().filter((e) => e.event === "message_submitted" && e.msg_id === msgId);

    const quiet = newMsgId();
    expect((await call("POST", "/v1/messages", { token: alice.token, body: body(quiet) })).status).toBe(200);
    expect(submitted(quiet)).toEqual([]);

    // Addressed to a device bob does not have: refused with 409, and logged with the request id.
    const refused = newMsgId();
    const mismatch = await call("POST", "/v1/messages", { token: alice.token, body: { ...body(refused), envelopes: envelopesFor(refused, [{ ...asRecipient(bob), deviceId: 99 }]) } });
    expect(mismatch.status).toBe(409);
    expect(submitted(refused)).toEqual([expect.objectContaining({ level: "info", outcome: "device_mismatch", request_id: mismatch.headers.get("x-request-id") })]);

    const verbose = newMsgId();
    const sent = await call("POST", "/v1/messages", { token: alice.token, body: body(verbose), env: { LOG_LEVEL: "debug" } });
    expect(sent.status).toBe(200);
    expect(submitted(verbose)).toEqual([expect.objectContaining({ level: "debug", outcome: "accepted", chat_seq: 2, request_id: sent.headers.get("x-request-id") })]);
    // Back at the default configuration, accepted sends are quiet again.
    const after = newMsgId();
    expect((await call("POST", "/v1/messages", { token: alice.token, body: body(after) })).status).toBe(200);
    expect(submitted(after)).toEqual([]);
    const ciphertexts = [quiet, verbose, after].map((id) => body(id).envelopes[0]!.content);
    for (const line of lines) for (const secret of [...ciphertexts, alice.token]) expect(line.includes(secret), `a log line contains a secret: ${line}`).toBe(false);
  });
});
