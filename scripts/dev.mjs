#!/usr/bin/env node
// `npm run dev`: the whole system locally and offline. Creates .dev.vars with a random token secret
// on first run, applies the D1 migrations to the local database, then runs `wrangler dev` with local
// D1, R2, Queues and Durable Objects on http://127.0.0.1:8787.
// Options: --port N (default 8787), --persist-to DIR (local state; default .wrangler/state);
// --config FILE (another wrangler config, e.g. the load benchmark's with raised rate limits);
// --skip-migrations (a config without D1, e.g. the benchmark's floor Worker);
// --skip-web-build (web/dist is already built, e.g. by the test run; the web client is built otherwise);
// anything after `--` goes to wrangler dev as is (e.g. -- --inspector-port 0).
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const args = argv.includes("--") ? argv.slice(0, argv.indexOf("--")) : argv;
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const port = option("--port", process.env.PORT ?? "8787");
const persistTo = option("--persist-to", join(root, ".wrangler", "state"));
const config = option("--config", null);
const configArgs = config ? ["--config", config] : [];

const env = {
  ...process.env,
  // Offline: no Request.cf download, no telemetry, no banner.
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_HIDE_BANNER: "true",
  // Makes wrangler skip interactive confirmations.
  CI: process.env.CI ?? "true",
};

const devVars = join(root, ".dev.vars");
if (!existsSync(devVars)) {
  writeFileSync(devVars, `# Local secrets for wrangler dev (not committed).\nAUTH_TOKEN_SECRET=${randomBytes(32).toString("hex")}\n`);
  console.error("created .dev.vars with a random AUTH_TOKEN_SECRET");
}

if (!args.includes("--skip-web-build")) {
  const web = spawnSync(process.execPath, [join(root, "scripts", "build-web.mjs")], { cwd: root, env, stdio: ["ignore", "inherit", "inherit"] });
  if (web.status !== 0) {
    console.error("building the web client failed");
    process.exit(web.status ?? 1);
  }
}

const wrangler = join(root, "node_modules", ".bin", "wrangler");
if (!args.includes("--skip-migrations")) {
  // Applied migrations are recorded (d1_migrations), so a second attempt applies only the rest. It
  // is for the local runtime's own rare failures mid-way (seen: an internal "false == true"
  // assertion after some migrations applied); a migration that is itself wrong fails every time.
  const MIGRATION_ATTEMPTS = 3;
  for (let attempt = 1; ; attempt++) {
    const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo, ...configArgs], {
      cwd: root,
      env,
      stdio: ["ignore", "inherit", "inherit"],
    });
    if (migrate.status === 0) break;
    if (attempt >= MIGRATION_ATTEMPTS) {
      console.error("applying D1 migrations failed");
      process.exit(migrate.status ?? 1);
    }
    console.error(`applying D1 migrations failed (attempt ${attempt} of ${MIGRATION_ATTEMPTS}); trying again`);
  }
}

const passThrough = argv.includes("--") ? argv.slice(argv.indexOf("--") + 1) : [];
const devArgs = ["dev", "--ip", "127.0.0.1", "--port", port, "--persist-to", persistTo, "--show-interactive-dev-session=false", ...configArgs];
const dev = spawn(wrangler, [...devArgs, ...passThrough], {
  cwd: root,
  env,
  stdio: ["ignore", "inherit", "inherit"],
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
