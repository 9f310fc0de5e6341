/**
 * The deployed environments in wrangler.toml ([env.staging], [env.production]) must not drift from
 * the top level: bindings and vars are not inherited, so each environment repeats them with its own
 * resources. Read through wrangler's own config reader, as `wrangler deploy --env` would.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { queueBaseName } from "../../src/queue-names";

// src/config.ts is Worker code (its types need the Workers runtime's); it runs fine on Node, so it is
// loaded untyped here and given the one signature this test uses.
type LoadConfig = (vars: Record<string, string>) => { environment: string };
const { loadConfig } = (await import(["..", "..", "src", "config"].join("/"))) as { loadConfig: LoadConfig };

const configPath = join(import.meta.dirname, "..", "..", "wrangler.toml");
const ENVIRONMENTS = ["staging", "production"] as const;

/** The part of wrangler's resolved config this test reads (wrangler's own type does not resolve outside workerd types). */
interface DeployConfig {
  name: string;
  definedEnvironments?: string[];
  vars: Record<string, string>;
  durable_objects: { bindings: { name: string; class_name: string }[] };
  d1_databases: { binding: string; database_name: string; database_id: string; migrations_dir?: string }[];
  r2_buckets: { binding: string; bucket_name: string; jurisdiction?: string }[];
  queues: { producers?: { binding: string; queue: string }[]; consumers?: { queue: string; dead_letter_queue?: string }[] };
  ratelimits: { name: string; namespace_id: string }[];
  analytics_engine_datasets: { binding: string; dataset?: string }[];
}

function read(env?: string): DeployConfig {
  return unstable_readConfig({ config: configPath, env }, { hideWarnings: true }) as DeployConfig;
}

/** Every binding an environment declares, as "kind:name" (plus what it is bound to where it matters). */
function bindings(config: DeployConfig): string[] {
  return [
    ...config.durable_objects.bindings.map((b) => `do:${b.name}=${b.class_name}`),
    ...config.d1_databases.map((b) => `d1:${b.binding}:${b.migrations_dir}`),
    ...config.r2_buckets.map((b) => `r2:${b.binding}:${b.jurisdiction ?? ""}`),
    ...(config.queues.producers ?? []).map((q) => `queue-producer:${q.binding}`),
    ...(config.queues.consumers ?? []).map((q) => `queue-consumer:${queueBaseName(q.queue)}->${queueBaseName(q.dead_letter_queue ?? "")}`),
    ...config.ratelimits.map((r) => `ratelimit:${r.name}`),
    ...config.analytics_engine_datasets.map((a) => `analytics:${a.binding}`),
  ].sort();
}

/** The names of the Cloudflare resources an environment uses: they must never be shared across environments. */
function resources(config: DeployConfig): string[] {
  return [
    ...config.d1_databases.map((b) => `d1:${b.database_name}`),
    ...config.d1_databases.map((b) => `d1-id:${b.database_id}`),
    ...config.r2_buckets.map((b) => `r2:${b.bucket_name}`),
    ...(config.queues.consumers ?? []).flatMap((q) => [`queue:${q.queue}`, `queue:${q.dead_letter_queue}`]),
    ...config.ratelimits.map((r) => `ratelimit:${r.namespace_id}`),
    ...config.analytics_engine_datasets.map((a) => `analytics:${a.dataset}`),
  ];
}

describe("wrangler.toml environments", () => {
  const local = read();

  it("defines staging and production", () => {
    expect(local.definedEnvironments).toEqual(expect.arrayContaining([...ENVIRONMENTS]));
  });

  for (const name of ENVIRONMENTS) {
    describe(name, () => {
      const deployed = read(name);

      it("binds everything the top level binds, and deploys under its own Worker name", () => {
        expect(bindings(deployed)).toEqual(bindings(local));
        expect(deployed.name).toBe(`parley-${name}`);
        expect(deployed.vars.PARLEY_ENV).toBe(name);
      });

      it("sets every var the top level sets", () => {
        expect(Object.keys(deployed.vars).sort()).toEqual(expect.arrayContaining(Object.keys(local.vars).sort()));
      });

      it("uses resources of its own", () => {
        const others = [local, ...ENVIRONMENTS.filter((e) => e !== name).map((e) => read(e))].flatMap(resources);
        for (const resource of resources(deployed)) expect(others).not.toContain(resource);
      });

      it("validates once the secrets the setup script lists are set", () => {
        const vars = deployed.vars;
        const env = {
          ...vars,
          AUTH_TOKEN_SECRET: "x".repeat(40),
          VERIFICATION_WEBHOOK_URL: "https://sms-gateway.example/parley",
          VERIFICATION_WEBHOOK_SECRET: "y".repeat(32),
          R2_S3_ENDPOINT: "https://account.r2.cloudflarestorage.com",
          R2_ACCESS_KEY_ID: "k".repeat(32),
          R2_SECRET_ACCESS_KEY: "s".repeat(64),
        };
        expect(loadConfig(env).environment).toBe(name);
        // Without them it fails, naming the variable.
        expect(() => loadConfig({ ...vars })).toThrow(/AUTH_TOKEN_SECRET/);
      });
    });
  }
});
