/**
 * SQL the Durable Objects run on every message must stay compiled. workerd caches each object's
 * prepared statements by their text, but SQLite (3.47, the one workerd ships) plans `LIMIT ?`,
 * `LIKE ?` and `GLOB ?` with the bound value and marks such a statement expired whenever its
 * parameters are re-bound, which workerd does after every run (sqlite3_clear_bindings): it is then
 * recompiled on every execution (seen as `sqlite3Reprepare` in a native profile under load).
 * A literal (`LIMIT 2000`) or a unary plus (`LIMIT +?`, not planned by value) avoids it.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
/** A bare parameter right after LIMIT, LIKE or GLOB (`+?` and literals are fine). */
const PLANNED_BY_VALUE = /\b(LIMIT|LIKE|GLOB)\s+\?/gi;

async function sourcesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(join(root, dir), { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith(".ts")).map((e) => join(e.parentPath, e.name));
}

describe("Durable Object SQL", () => {
  it("has no statement that SQLite recompiles on every run (a bare parameter after LIMIT, LIKE or GLOB)", async () => {
    const files = await sourcesUnder("durable-objects");
    expect(files.length).toBeGreaterThan(0);
    const offenders: string[] = [];
    for (const file of files) {
      const lines = (await readFile(file, "utf8")).split("\n");
      lines.forEach((line, i) => {
        for (const m of line.matchAll(PLANNED_BY_VALUE)) offenders.push(`${file.slice(root.length + 1)}:${i + 1}: ${m[0]}`);
      });
    }
    expect(offenders).toEqual([]);
  });

  it("recognises the pattern it guards against", () => {
    expect("SELECT x FROM t ORDER BY x LIMIT ?".match(PLANNED_BY_VALUE)).toHaveLength(1);
    expect("WHERE name LIKE ? AND path glob ?".match(PLANNED_BY_VALUE)).toHaveLength(2);
    expect("SELECT x FROM t ORDER BY x LIMIT +?".match(PLANNED_BY_VALUE)).toBeNull();
    expect("SELECT x FROM t LIMIT 2000".match(PLANNED_BY_VALUE)).toBeNull();
  });
});
