/**
 * Shared helpers for the crypto tests: hex, a seeded RNG (so property tests replay exactly), and
 * small byte utilities. Not a test file itself.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { CryptoError } from "../../src/client/crypto/errors";
import type { Rng } from "../../src/client/crypto/primitives";

export const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
export const toHex = (b: Uint8Array): string => Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");

/** Deterministic byte stream: SHA-256(seed || counter) blocks. Reproducible, not for production. */
export function seededRng(seed: number): Rng {
  let counter = 0;
  return (length) => {
    const out = new Uint8Array(length);
    for (let o = 0; o < length; o += 32) {
      const block = sha256(Uint8Array.of(seed >>> 24, seed >>> 16, seed >>> 8, seed, counter >>> 24, counter >>> 16, counter >>> 8, counter));
      counter++;
      out.set(block.subarray(0, Math.min(32, length - o)), o);
    }
    return out;
  };
}

/** Seeded PRNG for choosing actions in property tests (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Settles `p` and names the outcome: "ok" or the CryptoError code (anything else is rethrown). */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    if (e instanceof CryptoError) return e.code;
    throw e;
  }
}
