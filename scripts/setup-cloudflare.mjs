#!/usr/bin/env node
// `npm run setup:cloudflare [-- --dry-run] [-- --env NAME]`: creates the Cloudflare resources that
// wrangler.toml binds (D1 database, R2 buckets, queues and their dead-letter queues), read from
// wrangler.toml itself so the two never disagree. Idempotent: a resource that already exists is
// reported and kept. With --dry-run it only prints the commands. Secrets are listed, not set:
// `wrangler secret put` asks for their values interactively.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const dryRun = args.includes("--dry-run");
const envIndex = args.indexOf("--env");
const envArgs = envIndex >= 0 && args[envIndex + 1] ? ["--env", args[envIndex + 1]] : [];

const toml = readFileSync(join(root, "wrangler.toml"), "utf8");
const values = (key) => [...toml.matchAll(new RegExp(`^\\s*${key}\\s*=\\s*"([^"]+)"`, "gm"))].map((m) => m[1]);
const unique = (list) => [...new Set(list)];

const steps = [
  ...unique(values("database_name")).map((name) => ["d1", "create", name]),
  ...unique(values("bucket_name")).map((name) => ["r2", "bucket", "create", name]),
  ...unique([...values("queue"), ...values("dead_letter_queue")]).map((name) => ["queues", "create", name]),
];
// ADMIN_API_SECRET enables the moderation API (/v1/admin/*); without it those routes answer 403.
const secrets = ["AUTH_TOKEN_SECRET", "ADMIN_API_SECRET"];

if (steps.length === 0) {
  console.error("found no resources in wrangler.toml");
  process.exit(1);
}

const wrangler = join(root, "node_modules", ".bin", "wrangler");
let failed = false;
for (const step of steps) {
  const command = ["wrangler", ...step, ...envArgs].join(" ");
  if (dryRun) {
    console.log(`would run: ${command}`);
    continue;
  }
  console.log(`running: ${command}`);
  const result = spawnSync(wrangler, [...step, ...envArgs], { cwd: root, encoding: "utf8" });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
  process.stdout.write(output);
  if (result.status !== 0 && !/already exists|already taken|is already/i.test(output)) failed = true;
}
console.log("");
console.log("then:");
console.log("  put the D1 database_id printed above into wrangler.toml ([[d1_databases]] database_id)");
for (const secret of secrets) console.log(`  npx wrangler secret put ${secret}${envArgs.length ? ` ${envArgs.join(" ")}` : ""}`);
console.log("  npx wrangler d1 migrations apply DB --remote");
console.log("  npx wrangler deploy");
process.exit(failed ? 1 : 0);
