/**
 * Documentation that must not drift from the code: the configuration reference in
 * docs/OPERATIONS.md lists exactly the variables src/config.ts reads, and every [vars] entry of
 * wrangler.toml is one of them.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ALL_CONFIG_ENV_NAMES } from "../../src/config-names";

const root = join(import.meta.dirname, "..", "..");

describe("docs/OPERATIONS.md configuration reference", () => {
  it("lists every configuration variable, and nothing else", async () => {
    const doc = await readFile(join(root, "docs", "OPERATIONS.md"), "utf8");
    const section = doc.slice(doc.indexOf("## Configuration reference"), doc.indexOf("\n## ", doc.indexOf("## Configuration reference") + 1));
    const documented = [...section.matchAll(/^\| `([A-Z_0-9]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...ALL_CONFIG_ENV_NAMES].sort());
  });

  it("wrangler.toml sets only known variables", async () => {
    const toml = await readFile(join(root, "wrangler.toml"), "utf8");
    const vars = toml.slice(toml.indexOf("[vars]"), toml.indexOf("\n[", toml.indexOf("[vars]") + 1));
    const names = [...vars.matchAll(/^([A-Z_0-9]+)\s*=/gm)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(ALL_CONFIG_ENV_NAMES).toContain(name);
  });
});
