/** The most of a failed test's server output printed (its end). */
const FAILURE_LOG_CHARS = 20_000;

/**
 * One real server per test file: registers beforeAll/afterAll hooks that start wrangler dev in a
 * fresh temporary directory and remove it afterwards. Returns accessors for the running server and
 * the directory (devices' state can live beside the server's). When a test fails, what the server
 * printed during it goes to stderr: an answer the test did not expect is then explained by the
 * server's own lines.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { freePort, LocalServer, type LocalServerOptions } from "./server";

export function serverForThisFile(prefix: string, options: LocalServerOptions = {}): { server: () => LocalServer; workDir: () => string } {
  let server: LocalServer | undefined;
  let workDir: string | undefined;
  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), `parley-${prefix}-`));
    server = new LocalServer(await freePort(), join(workDir, "server-state"), options);
    await server.start();
  }, 120_000);
  let logFrom = 0;
  beforeEach(() => {
    logFrom = server?.output().length ?? 0;
  });
  afterEach((context) => {
    if (context.task.result?.state !== "fail" || !server) return;
    const during = server.output().slice(logFrom);
    process.stderr.write(`--- server output during "${context.task.name}" (last ${FAILURE_LOG_CHARS} characters) ---\n${during.slice(-FAILURE_LOG_CHARS)}\n--- end of server output ---\n`);
  });
  afterAll(async () => {
    await server?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }, 60_000);
  return {
    server: () => server!,
    workDir: () => workDir!,
  };
}
