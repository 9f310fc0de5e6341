/**
 * PresenceRoom: ephemeral online/typing state and the hibernated sockets of viewers (issue 7).
 * Declared now so the binding and its SQLite migration are stable; until presence is built it
 * answers every request with 501, never a fake success.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../src/env";

export class PresenceRoom extends DurableObject<Env> {
  override async fetch(): Promise<Response> {
    return Response.json({ error: { code: "not_implemented", message: "presence is not built yet" } }, { status: 501 });
  }
}
