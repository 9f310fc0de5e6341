/**
 * Two test projects, both run by `npm test`:
 * - "workers": integration tests inside workerd through @cloudflare/vitest-pool-workers (the Worker,
 *   its Durable Objects, D1 with the checked-in migrations, R2, Queues). Storage is isolated per file.
 * - "node": the client SDK, its cryptography (with published test vectors) and end-to-end tests that
 *   start the real server with wrangler dev.
 * - "browser": the web client (web/) in Debian's Chromium through playwright-core, against wrangler dev.
 */
import { execFileSync } from "node:child_process";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { boundedWorkersPool } from "./test/harness/bounded-workers-pool";
import { StallReporter } from "./test/harness/stall-reporter";
import { TEST_PUSH_BINDINGS } from "./test/support/push-credentials";

// wrangler.toml serves web/dist as static assets: the Worker cannot start without it, and the
// browser tests load the app from it. Built once per run, before any server or pool starts.
execFileSync(process.execPath, ["scripts/build-web.mjs"], { cwd: import.meta.dirname, stdio: "inherit" });

export default defineConfig({
  test: {
    // StallReporter: a run that stops making progress prints what is still running (see the module).
    reporters: ["default", new StallReporter()],
    projects: [
      {
        plugins: [
          cloudflareTest(async () => ({
            main: "./src/index.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                TEST_MIGRATIONS: await readD1Migrations("./migrations"),
                // A fixed secret for tests only; real deployments set it with `wrangler secret put`.
                AUTH_TOKEN_SECRET: "test-only-auth-token-secret-0123456789abcdef",
                // Generated test-only push credentials; the endpoints are fakes served by the tests.
                ...TEST_PUSH_BINDINGS,
              },
              queueConsumers: {
                "parley-fanout": { maxBatchTimeout: 0.05, maxRetries: 5, deadLetterQueue: "parley-fanout-dlq" },
                "parley-fanout-dlq": { maxBatchTimeout: 0.05 },
                // An entry here replaces wrangler.toml's consumer settings: repeat the retry bound and
                // the dead-letter queue so tests see production's retry path.
                "parley-push": { maxBatchTimeout: 0.05, maxRetries: 5, deadLetterQueue: "parley-push-dlq" },
                // Only in tests: consume the dead-letter queue so a test can see a job arrive there.
                "parley-push-dlq": { maxBatchTimeout: 0.05 },
              },
            },
          })),
          // After cloudflareTest(): a test file's runtime that never starts or never shuts down is
          // killed and reported instead of stalling the whole run (see the module).
          boundedWorkersPool(),
        ],
        test: {
          name: "workers",
          include: ["test/workers/**/*.test.ts"],
          setupFiles: ["./test/workers/setup.ts"],
          // Generous: the slowest file takes seconds on an idle machine (after the pool patch in
          // patches/; it took minutes before), far longer on a loaded 2-core one.
          testTimeout: 180_000,
        },
      },
      {
        test: {
          name: "node",
          environment: "node",
          include: ["test/node/**/*.test.ts", "test/crypto/**/*.test.ts", "src/client/**/*.test.ts"],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "browser",
          environment: "node",
          include: ["test/browser/**/*.test.ts"],
          // The web client in Chromium against wrangler dev: a whole conversation per file.
          testTimeout: 120_000,
        },
      },
    ],
  },
});
