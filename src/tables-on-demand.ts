/**
 * @module Tables a Durable Object needs for only some of its work (a group's members and fanout
 * jobs, abuse quotas, auth nonces), created the first time that work writes to them instead of in
 * every object's constructor.
 *
 * Why: workerd keeps every statement an object has run prepared for the object's lifetime (its
 * statement cache is bounded by SQL text, 1 MiB), so each CREATE of a table the object never uses
 * still holds ~3 KB of SQLite heap, and the pages the CREATE wrote sit in its page cache. One local
 * workerd shares a process-wide 128 MiB soft heap limit among all its SQLite databases; with ~700
 * live ChatRooms and inboxes the unused tables alone pushed it past that limit, and every commit
 * then paid for page-cache spills (docs/PERFORMANCE.md, ninth round).
 *
 * The object is its storage's only writer, so what this remembers is exact for the object's
 * lifetime, with two exceptions its owner must report: a transaction that rolled back (a CREATE in
 * it rolled back too: `forget`) and `deleteAll` (`forget`).
 */
export class TablesOnDemand<Name extends string> {
  /** Whether each table exists, as last created or looked up. */
  private readonly known = new Map<Name, boolean>();

  /** `schemas`: per table, its CREATE TABLE and CREATE INDEX statements, all `IF NOT EXISTS`. */
  constructor(
    private readonly sql: SqlStorage,
    private readonly schemas: Readonly<Record<Name, readonly string[]>>,
  ) {}

  /** Creates the table and its indexes unless they exist; call before writing to it. */
  create(name: Name): void {
    if (this.known.get(name) === true) return;
    for (const statement of this.schemas[name]) this.sql.exec(statement);
    this.known.set(name, true);
  }

  /** Whether the table exists. A read of a table that does not exist would find nothing: skip it. */
  exists(name: Name): boolean {
    let exists = this.known.get(name);
    if (exists === undefined) {
      exists = this.sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`, name).toArray().length > 0;
      this.known.set(name, exists);
    }
    return exists;
  }

  /** After a rolled-back transaction or `deleteAll`: look every table up again. */
  forget(): void {
    this.known.clear();
  }
}
