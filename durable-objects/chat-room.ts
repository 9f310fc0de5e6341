/**
 * ChatRoom: one Durable Object per chat (per-chat sequence, idempotency keys, membership snapshot,
 * receipt state, fanout). Declared in wrangler.toml from the start so the binding and its SQLite
 * migration are stable; its behaviour is built by the delivery work (issue 3). Until then it
 * answers every request with 501, never a fake success.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../src/env";

export class ChatRoom extends DurableObject<Env> {
  override async fetch(): Promise<Response> {
    return Response.json({ error: { code: "not_implemented", message: "chat delivery is not built yet" } }, { status: 501 });
  }
}
