/**
 * Starts and stops the real server for end-to-end tests and the load benchmark: `npm run dev`'s
 * script (wrangler dev with local D1/R2/Queues/DOs, migrations applied) on a free port with its
 * state in a directory the caller owns, so a restart with the same directory is a real server
 * restart with state kept. Options let the benchmark run another wrangler config (raised rate
 * limits, or its floor Worker) and find the processes it measures.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..", "..");

/**
 * Linux hands out ephemeral ports (32768-60999) to every `listen(0)` and outgoing connection, and
 * the wrangler/workerd processes of other test files bind such ports all the time: a port taken from
 * that range can be gone before our server binds it. So ports come from below it, checked free.
 */
const PORT_RANGE = { low: 20_000, high: 32_000 };

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = PORT_RANGE.low + Math.floor(Math.random() * (PORT_RANGE.high - PORT_RANGE.low));
    if (await canListen(port)) return port;
  }
  throw new Error("no free port");
}

export interface LocalServerOptions {
  /** A wrangler config other than the repository's wrangler.toml. */
  config?: string;
  /** false for a config without D1 (nothing to migrate). */
  migrate?: boolean;
  /** Extra arguments for `wrangler dev` (e.g. `--var NAME:value`). */
  wranglerArgs?: string[];
  /** Extra environment for wrangler (e.g. WRANGLER_LOG=debug, which prints the Worker's own port). */
  env?: Record<string, string>;
  /** Where the health check goes (default /v1/health). */
  healthPath?: string;
}

export class LocalServer {
  private process: ChildProcess | null = null;
  private log = "";
  readonly url: string;
  /** wrangler's inspector proxy for the Worker (Chrome DevTools Protocol); set by start(). */
  inspectorPort = 0;

  constructor(
    readonly port: number,
    readonly stateDir: string,
    private readonly options: LocalServerOptions = {},
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  /** The process group of wrangler and its workerd children (null when stopped). */
  get processGroup(): number | null {
    return this.process?.pid ?? null;
  }

  async start(timeoutMs = 90_000): Promise<void> {
    // A port that another process took between our check and wrangler's bind: try again (the
    // inspector port is picked afresh; the server's own port is fixed, so wait for it to be free).
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startOnce(timeoutMs);
      } catch (err) {
        if (attempt >= 3 || !/Address already in use/.test(String(err))) throw err;
        await this.stop();
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  private async startOnce(timeoutMs: number): Promise<void> {
    this.log = "";
    const { config, migrate = true, wranglerArgs = [], env = {} } = this.options;
    const script = [join(root, "scripts", "dev.mjs"), "--port", String(this.port), "--persist-to", this.stateDir];
    if (config) script.push("--config", config);
    if (!migrate) script.push("--skip-migrations");
    // The test run built the web client once (vitest.config.ts); rebuilding it under a running server is needless.
    if (existsSync(join(root, "web", "dist", "index.html"))) script.push("--skip-web-build");
    this.inspectorPort = await freePort();
    const child = spawn(process.execPath, [...script, "--", "--inspector-port", String(this.inspectorPort), ...wranglerArgs], {
      cwd: root,
      env: { ...process.env, CI: "true", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    child.stdout!.on("data", (d: Buffer) => (this.log += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (this.log += d.toString()));
    this.process = child;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`server exited early:\n${this.log}`);
      try {
        const res = await fetch(`${this.url}${this.options.healthPath ?? "/v1/health"}`);
        if (res.ok) return;
      } catch {
        // not up yet
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`server did not become healthy in ${timeoutMs} ms:\n${this.log}`);
  }

  /** Stops wrangler and its workerd children (the whole process group) and waits for them. */
  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      // already gone
    }
    const killer = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }, 5_000);
    await exited;
    clearTimeout(killer);
    this.process = null;
    // workerd may outlive its parent by a moment; wait until the port is free again.
    for (let i = 0; i < 100; i++) {
      try {
        await fetch(`${this.url}${this.options.healthPath ?? "/v1/health"}`);
      } catch {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** `--config FILE` when this server runs another wrangler config (for wrangler commands on its state). */
  configArgs(): string[] {
    return this.options.config ? ["--config", this.options.config] : [];
  }

  output(): string {
    return this.log;
  }
}
