#!/usr/bin/env node
// Builds the web client (web/) into web/dist, which the Worker serves as static assets at `/`
// (wrangler.toml [assets]). esbuild bundles the app with the SDK (all cryptography runs in the
// browser) and the service worker; index.html and styles.css are copied as they are.
// Run by `npm run dev`, `npm run deploy:check` and `npm test`; `--watch` rebuilds on change.
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build, context } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const web = join(root, "web");
const out = join(web, "dist");

/** @type {import("esbuild").BuildOptions} */
const options = {
  entryPoints: { app: join(web, "src", "main.ts"), sw: join(web, "src", "sw.ts") },
  outdir: out,
  bundle: true,
  platform: "browser",
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: "linked",
  logLevel: "warning",
};

async function copyStatic() {
  for (const file of ["index.html", "styles.css"]) await copyFile(join(web, file), join(out, file));
}

// Files are overwritten in place, never removed first: a running `wrangler dev` serves this directory.
await mkdir(out, { recursive: true });
await copyStatic();
if (process.argv.includes("--watch")) {
  const ctx = await context(options);
  await ctx.watch();
  console.error("web client: watching web/src (static files are copied at start)");
} else {
  await build(options);
}
