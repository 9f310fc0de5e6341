/**
 * The SDK must run in browsers: bundling src/client/index.ts for the browser platform succeeds
 * with no Node built-in anywhere in the graph (esbuild fails the build on an unresolvable
 * `node:` import when bundling for the browser).
 */
import { join } from "node:path";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");

describe("browser bundle", () => {
  it("bundles the SDK for the browser without Node built-ins", async () => {
    const result = await build({
      entryPoints: [join(root, "src", "client", "index.ts")],
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    expect(result.errors).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((p) => p.includes("src/client/client.ts"))).toBe(true);
    expect(inputs.filter((p) => p.startsWith("node:") || p.includes("file-store"))).toEqual([]);
    const size = result.outputFiles[0]!.contents.length;
    expect(size).toBeGreaterThan(10_000);
  }, 60_000);
});
