/**
 * What the platform's building blocks cost on this machine (`npm run bench:primitives`): one
 * Durable Object with SQLite runs N of one operation per request, and bench/primitives.ts reads the
 * CPU the Worker's workerd process used. Turns the load bench's per-message counts (statements,
 * commits, RPCs; docs/PERFORMANCE.md) into microseconds. `rpc`, `rpc_read` and `rpc_write` are one
 * event each: their differences are what one statement and one commit cost as the first of an event.
 */
import { DurableObject } from "cloudflare:workers";

interface Env {
  PRIMS: DurableObjectNamespace<Prims>;
}

/** A 256-byte envelope's inbox entry, as DeviceInbox stores it (about 600 characters of JSON). */
const ENTRY = JSON.stringify({
  kind: "message",
  chat_id: "d:6f1c2a9e-2f4b-4c7d-9a1e-0b2c3d4e5f60:0b2c3d4e-2f4b-4c7d-9a1e-6f1c2a9e5f60",
  chat_seq: 12345,
  msg_id: "0f9e8d7c-6b5a-4c3d-9e2f-1a0b9c8d7e6f",
  sender: { account_id: "6f1c2a9e-2f4b-4c7d-9a1e-0b2c3d4e5f60", device_id: 1 },
  server_ts: 1764380000000,
  type: "message",
  content: "A".repeat(344),
});

const OPERATIONS = [
  "select_constant",
  "select_by_key",
  "select_range_empty",
  "select_range_empty_plus_limit",
  "upsert",
  "insert_returning_and_delete",
  "empty_transaction",
  "json_parse_and_stringify",
] as const;
type Operation = (typeof OPERATIONS)[number];

export class Prims extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS entries (seq INTEGER PRIMARY KEY AUTOINCREMENT, dedupe_key TEXT UNIQUE, body TEXT NOT NULL)`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS marks (key TEXT PRIMARY KEY, value INTEGER NOT NULL)`);
    this.sql.exec(`INSERT OR IGNORE INTO marks (key, value) VALUES ('a', 0)`);
  }

  /** `n` of one operation in one synchronous run (one event, at most one commit); returns a checksum. */
  run(operation: Operation, n: number): number {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      switch (operation) {
        case "select_constant":
          sum += this.sql.exec<{ x: number }>(`SELECT 1 AS x`).one().x;
          break;
        case "select_by_key":
          sum += this.sql.exec<{ value: number }>(`SELECT value FROM marks WHERE key = ?`, "a").toArray().length;
          break;
        case "select_range_empty":
          sum += this.sql.exec(`SELECT seq, body FROM entries WHERE seq > ? ORDER BY seq LIMIT ?`, Number.MAX_SAFE_INTEGER, 200).toArray().length;
          break;
        case "select_range_empty_plus_limit":
          // The same with `LIMIT +?`: SQLite does not plan by the bound value, so the statement is not recompiled each run.
          sum += this.sql.exec(`SELECT seq, body FROM entries WHERE seq > ? ORDER BY seq LIMIT +?`, Number.MAX_SAFE_INTEGER, 200).toArray().length;
          break;
        case "upsert":
          sum += this.sql.exec(`INSERT INTO marks (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, "a", i).rowsWritten;
          break;
        case "insert_returning_and_delete": {
          const row = this.sql.exec<{ seq: number }>(`INSERT INTO entries (dedupe_key, body) VALUES (?, ?) RETURNING seq`, `k${i}:${Math.random()}`, ENTRY).one();
          sum += this.sql.exec(`DELETE FROM entries WHERE seq = ?`, row.seq).rowsWritten;
          break;
        }
        case "empty_transaction":
          this.ctx.storage.transactionSync(() => void sum++);
          break;
        case "json_parse_and_stringify":
          sum += JSON.stringify(JSON.parse(ENTRY)).length;
          break;
      }
    }
    return sum;
  }

  /** An RPC that does nothing. */
  ping(): number {
    return 1;
  }

  /** An RPC whose event reads one row. */
  read(): number {
    return this.sql.exec<{ value: number }>(`SELECT value FROM marks WHERE key = ?`, "a").toArray().length;
  }

  /** An RPC whose event writes one row: the event ends with a commit of its own. */
  write(i: number): number {
    return this.sql.exec(`INSERT INTO marks (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, "w", i).rowsWritten;
  }
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const n = Number(url.searchParams.get("n") ?? "1000");
    const stub = env.PRIMS.get(env.PRIMS.idFromName("primitives"));
    if (url.pathname === "/health") return new Response("ok");
    if (url.pathname === "/operations") return Response.json([...OPERATIONS, "rpc", "rpc_read", "rpc_write"]);
    if (url.pathname === "/rpc" || url.pathname === "/rpc_read" || url.pathname === "/rpc_write") {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += url.pathname === "/rpc" ? await stub.ping() : url.pathname === "/rpc_read" ? await stub.read() : await stub.write(i);
      return new Response(String(sum));
    }
    const operation = url.pathname.slice(1) as Operation;
    if (!OPERATIONS.includes(operation)) return new Response("unknown operation", { status: 404 });
    return new Response(String(await stub.run(operation, n)));
  },
};
