/**
 * @module In-memory KeyValueStore: tests, benchmarks, and ephemeral clients. Copies on the way in
 * and out so a caller can never alias a stored record.
 */
import type { KeyValueStore } from "./types";

export class MemoryKeyValueStore implements KeyValueStore {
  private readonly map = new Map<string, Uint8Array>();

  async get(key: string): Promise<Uint8Array | undefined> {
    const v = this.map.get(key);
    return v && v.slice();
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    this.map.set(key, value.slice());
  }

  async delete(key: string): Promise<void> {
    this.map.delete(key);
  }

  /** Keys currently stored (tests check that used prekeys are gone). */
  keys(): string[] {
    return [...this.map.keys()];
  }
}
