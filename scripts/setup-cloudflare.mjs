#!/usr/bin/env node
// `npm run setup:cloudflare [-- --dry-run] [-- --env NAME]`: creates the Cloudflare resources that
// wrangler.toml binds (D1 database, R2 buckets, queues and their dead-letter queues), read from
// wrangler.toml itself so the two never disagree. Idempotent: a resource that already exists is
// reported and kept. With --dry-run it only prints the commands. Secrets are listed, not set:
// `wrangler secret put` asks for their values interactively.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { unstable_readConfig } from "wrangler";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const dryRun = args.includes("--dry-run");
const envIndex = args.indexOf("--env");
const envName = envIndex >= 0 ? args[envIndex + 1] : undefined;
const envArgs = envName ? ["--env", envName] : [];

// wrangler's own reading of wrangler.toml for the chosen environment (bindings are per environment).
let config;
try {
  config = unstable_readConfig({ config: join(root, "wrangler.toml"), env: envName }, { hideWarnings: true });
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(2);
}
const unique = (list) => [...new Set(list.filter(Boolean))];
const queues = config.queues ?? {};
const steps = [
  ...unique(config.d1_databases.map((db) => db.database_name)).map((name) => ["d1", "create", name]),
  // A bucket with a jurisdiction (data residency) must be created in it.
  ...config.r2_buckets.map((b) => ["r2", "bucket", "create", b.bucket_name, ...(b.jurisdiction ? ["--jurisdiction", b.jurisdiction] : [])]),
  ...unique([
    ...(queues.producers ?? []).map((q) => q.queue),
    ...(queues.consumers ?? []).flatMap((q) => [q.queue, q.dead_letter_queue]),
  ]).map((name) => ["queues", "create", name]),
];
// Required secrets follow from the vars (docs/OPERATIONS.md "Configuration reference").
const vars = config.vars ?? {};
const secrets = [
  "AUTH_TOKEN_SECRET",
  ...(vars.VERIFICATION_SENDER === "webhook" ? ["VERIFICATION_WEBHOOK_URL", "VERIFICATION_WEBHOOK_SECRET"] : []),
  ...(vars.MEDIA_UPLOAD_MODE === "presigned" ? ["R2_S3_ENDPOINT", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"] : []),
];

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
console.log(`  put the D1 database_id printed above into wrangler.toml (${envName ? `[[env.${envName}.d1_databases]]` : "[[d1_databases]]"} database_id)`);
for (const secret of secrets) console.log(`  npx wrangler secret put ${secret}${envArgs.length ? ` ${envArgs.join(" ")}` : ""}`);
console.log("  optional push providers (APNs, FCM, Web Push): see docs/OPERATIONS.md \"Push providers\"");
console.log(`  npx wrangler d1 migrations apply DB --remote${envName ? ` --env ${envName}` : ""}`);
console.log(`  npx wrangler deploy${envName ? ` --env ${envName}` : ""}`);
process.exit(failed ? 1 : 0);
