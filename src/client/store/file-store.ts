/**
 * @module File-backed KeyValueStore for Node (the CLI, bots, e2e tests): one file per key in a
 * directory. Writes go to a temporary file that is renamed over the old one, so a crash leaves
 * either the old or the new record, never half of one. The only file of the SDK that imports a
 * Node built-in; nothing in src/client/crypto may.
 */
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { KeyValueStore } from "./types";

export class FileKeyValueStore implements KeyValueStore {
  private ready: Promise<unknown> | undefined;
  private seq = 0;

  constructor(private readonly dir: string) {}

  /** Keys contain "/" and ":"; hex keeps every file name portable and unambiguous. */
  private path(key: string): string {
    return join(this.dir, Buffer.from(key, "utf8").toString("hex"));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.path(key)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 });
    await this.ready;
    const target = this.path(key);
    const tmp = `${target}.${process.pid}.${this.seq++}.tmp`;
    await writeFile(tmp, value, { mode: 0o600 });
    await rename(tmp, target);
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }
}
