/**
 * releaseBuffer (src/client/release-buffer.ts): a buffer the SDK owns is freed at once (not at the
 * next garbage collection: the process's ArrayBuffer memory drops right after the call), and every
 * buffer it cannot detach safely is left as it was: part of a larger buffer, a Node Buffer pool
 * slice, shared memory, WebAssembly memory, an empty or already detached buffer.
 */
import { describe, expect, it } from "vitest";
import { releaseBuffer } from "../../src/client/release-buffer";

const MIB = 1024 * 1024;

function filled(length: number): Uint8Array {
  return new Uint8Array(length).fill(0x5a);
}

describe("releaseBuffer", () => {
  it("frees a whole buffer now: every view of it is empty and the process's buffer memory drops", () => {
    const big = filled(32 * MIB);
    const alias = new Uint8Array(big.buffer);
    const before = process.memoryUsage().arrayBuffers;
    expect(releaseBuffer(big)).toBe(true);
    const after = process.memoryUsage().arrayBuffers;
    expect(big.byteLength).toBe(0);
    expect(big.buffer.byteLength).toBe(0);
    expect(alias.byteLength).toBe(0);
    // Freed, not moved: no garbage collection ran in between, yet the 32 MiB are gone (give or
    // take the few bytes anything else allocated meanwhile).
    expect(before - after).toBeGreaterThan(31 * MIB);
    // Twice is harmless.
    expect(releaseBuffer(big)).toBe(false);
  });

  it("frees a Node Buffer that has its own memory (a crypto update() result)", () => {
    const own = Buffer.alloc(64 * 1024, 1);
    expect(own.byteLength).toBe(own.buffer.byteLength);
    expect(releaseBuffer(own)).toBe(true);
    expect(own.byteLength).toBe(0);
  });

  it("leaves alone what it cannot free without touching other bytes", () => {
    const whole = filled(4096);
    const part = whole.subarray(16, 32);
    const prefix = whole.subarray(0, 100);
    const pooled = Buffer.from("a small Buffer lives in Node's shared pool");
    expect(pooled.byteLength).toBeLessThan(pooled.buffer.byteLength);
    const shared = new Uint8Array(new SharedArrayBuffer(1024)).fill(7);
    const wasm = new Uint8Array(new WebAssembly.Memory({ initial: 1 }).buffer).fill(9);
    const empty = new Uint8Array(0);

    for (const view of [part, prefix, pooled, shared, wasm, empty]) expect(releaseBuffer(view)).toBe(false);

    expect(whole.byteLength).toBe(4096);
    expect(whole.every((b) => b === 0x5a)).toBe(true);
    expect(pooled.toString()).toBe("a small Buffer lives in Node's shared pool");
    expect(shared.every((b) => b === 7)).toBe(true);
    expect(wasm.byteLength).toBe(64 * 1024);
    expect(wasm.every((b) => b === 9)).toBe(true);
  });
});
