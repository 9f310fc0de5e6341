/**
 * DeviceInbox: one Durable Object per device ("<account_id>.<device_id>").
 *
 * Owns everything that must have exactly one writer per device: the record of used authentication
 * challenges and whether the device is still active. (The durable message queue, the hibernated
 * socket and cursor ACKs live here too once delivery lands.) It knows nothing about accounts or
 * keys: D1 is the source of truth for those, and the Worker tells the inbox when its device is removed.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../src/env";

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS auth_nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)`,
];

/** Close code sent to a removed device's socket; clients must not reconnect after it. */
export const CLOSE_DEVICE_REMOVED = 4403;

export class DeviceInbox extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    for (const statement of SCHEMA) this.sql.exec(statement);
  }

  private get removed(): boolean {
    return this.sql.exec(`SELECT 1 FROM meta WHERE key = 'removed'`).toArray().length > 0;
  }

  /**
   * Records an authentication challenge nonce; false if it was seen before (replay) or the device
   * was removed. Expired nonces are purged on the way: a nonce cannot verify after its expiry anyway.
   */
  consumeAuthNonce(nonce: string, expiresAt: number): boolean {
    if (this.removed) return false;
    this.sql.exec(`DELETE FROM auth_nonces WHERE expires_at <= ?`, Date.now());
    const inserted = this.sql.exec(`INSERT OR IGNORE INTO auth_nonces (nonce, expires_at) VALUES (?, ?)`, nonce, expiresAt);
    return inserted.rowsWritten > 0;
  }

  /** The device was removed: close its sockets, drop everything stored, refuse it from now on. */
  deactivate(): void {
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.close(CLOSE_DEVICE_REMOVED, "device removed");
      } catch {
        // Already closing: nothing to do.
      }
    }
    this.sql.exec(`DELETE FROM auth_nonces`);
    this.sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('removed', ?)`, String(Date.now()));
  }

  isActive(): boolean {
    return !this.removed;
  }
}
