/**
 * @module The storage interface the client cryptography needs: a byte-valued key-value store.
 * Records are encoded by src/client/state/*, so a store never interprets what it keeps and a new
 * backend (IndexedDB, SQLite, React Native keychain) is three methods.
 */
export interface KeyValueStore {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
}
