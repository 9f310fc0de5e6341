/**
 * One real server per test file: registers beforeAll/afterAll hooks that start wrangler dev in a
 * fresh temporary directory and remove it afterwards. Returns accessors for the running server and
 * the directory (devices' state can live beside the server's).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { freePort, LocalServer, type LocalServerOptions } from "./server";

export function serverForThisFile(prefix: string, options: LocalServerOptions = {}): { server: () => LocalServer; workDir: () => string } {
  let server: LocalServer | undefined;
  let workDir: string | undefined;
  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), `parley-${prefix}-`));
    server = new LocalServer(await freePort(), join(workDir, "server-state"), options);
    await server.start();
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }, 60_000);
  return {
    server: () => server!,
    workDir: () => workDir!,
  };
}
