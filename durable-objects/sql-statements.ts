/**
 * @module Running a write statement in a Durable Object's SQLite so its compiled statement can be
 * reused. workerd caches each object's compiled statements by SQL text, but hands one back to the
 * cache only when its cursor has been read to the end (or garbage-collected). A write whose cursor
 * is dropped unread keeps its statement busy, so the next run of the same SQL compiles a one-off
 * copy: under the load bench that compiling was ~5 % of the Worker's CPU (docs/PERFORMANCE.md).
 */

/** Runs `query` to the end and returns the rows it wrote. */
export function runToEnd(sql: SqlStorage, query: string, ...bindings: SqlStorageValue[]): number {
  const cursor = sql.exec(query, ...bindings);
  // For a statement without result rows this is one step that finds the query done and releases it.
  cursor.toArray();
  return cursor.rowsWritten;
}
