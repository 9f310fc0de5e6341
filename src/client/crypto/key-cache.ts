/**
 * @module A bounded LRU map from key bytes to whatever a backend made of them (a WebCrypto
 * CryptoKey, a node:crypto KeyObject, a converted public key). Records are decoded from bytes on
 * every operation, so without it every signature or Diffie-Hellman would re-import its keys.
 */
import { KEY_CACHE_ENTRIES } from "./limits";

/** Map key for `bytes` under a kind prefix (one character per byte: cheap to build and compare). */
export function cacheId(kind: string, bytes: Uint8Array): string {
  return kind + String.fromCharCode.apply(null, bytes as unknown as number[]);
}

export class KeyCache<T> {
  private readonly entries = new Map<string, T>();

  constructor(private readonly limit = KEY_CACHE_ENTRIES) {}

  get(id: string): T | undefined {
    const hit = this.entries.get(id);
    if (hit !== undefined) {
      // Most recently used goes last; eviction takes the first.
      this.entries.delete(id);
      this.entries.set(id, hit);
    }
    return hit;
  }

  set(id: string, value: T): void {
    this.entries.set(id, value);
    if (this.entries.size > this.limit) this.entries.delete(this.entries.keys().next().value!);
  }

  /** The cached value for `kind` + `bytes`, or `load()`'s result, remembered. */
  through(kind: string, bytes: Uint8Array, load: () => T): T {
    const id = cacheId(kind, bytes);
    let value = this.get(id);
    if (value === undefined) {
      value = load();
      this.set(id, value);
    }
    return value;
  }

  clear(): void {
    this.entries.clear();
  }
}
