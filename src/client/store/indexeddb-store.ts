/**
 * @module IndexedDB-backed KeyValueStore for browsers: one object store of byte values in one
 * database per device, so keys, sessions and the client's records survive reloads and stay in the
 * browser. Every operation is its own transaction, which IndexedDB commits before reporting
 * success: a put that resolved is durable, and a closed tab leaves whole records only. Knows
 * nothing about what it stores (src/client/state encodes the records).
 */
import type { KeyValueStore } from "./types";

const OBJECT_STORE = "kv";
const SCHEMA_VERSION = 1;

function promised<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error("IndexedDB request failed"));
  });
}

export class IndexedDbKeyValueStore implements KeyValueStore {
  private constructor(private readonly db: IDBDatabase) {}

  /** Opens (creating on first use) the database `name`: one per device, e.g. "parley". */
  static async open(name: string, factory: IDBFactory = globalThis.indexedDB): Promise<IndexedDbKeyValueStore> {
    if (!factory) throw new Error("IndexedDB is not available in this environment");
    const request = factory.open(name, SCHEMA_VERSION);
    request.onupgradeneeded = () => {
      if (!request.result.objectStoreNames.contains(OBJECT_STORE)) request.result.createObjectStore(OBJECT_STORE);
    };
    return new IndexedDbKeyValueStore(await promised(request));
  }

  /** Resolves once the transaction has committed (a request's success alone is not durability). */
  private async run<T>(mode: IDBTransactionMode, op: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const tx = this.db.transaction(OBJECT_STORE, mode, { durability: "strict" });
    const done = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error("IndexedDB transaction failed"));
      tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
    });
    const result = await promised(op(tx.objectStore(OBJECT_STORE)));
    await done;
    return result;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const value: unknown = await this.run("readonly", (s) => s.get(key));
    if (value === undefined) return undefined;
    if (!(value instanceof Uint8Array)) throw new Error(`IndexedDB record ${key} is not bytes`);
    return value;
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    // Structured clone copies the bytes, so the caller's array is never aliased by the store.
    await this.run("readwrite", (s) => s.put(value, key));
  }

  async delete(key: string): Promise<void> {
    await this.run("readwrite", (s) => s.delete(key));
  }

  /** Every key (tests; an app's "export" screen). */
  keys(): Promise<string[]> {
    return this.run("readonly", (s) => s.getAllKeys()).then((keys) => keys.map(String));
  }

  close(): void {
    this.db.close();
  }
}
