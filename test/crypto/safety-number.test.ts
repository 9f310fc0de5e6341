/** Safety numbers: 60 digits, the same on both sides, sensitive to either key and either account id; QR comparison. */
import { describe, expect, it } from "vitest";
import { compareScannable, safetyNumber } from "../../src/client/crypto/safety-number";
import { seededRng } from "./support";

const alice = { accountId: "a1b2c3d4-0000-4000-8000-000000000001", identityKey: seededRng(1)(32) };
const bob = { accountId: "a1b2c3d4-0000-4000-8000-000000000002", identityKey: seededRng(2)(32) };

describe("safety numbers", () => {
  it("is 60 digits and identical whichever side computes it", () => {
    const a = safetyNumber(alice, bob);
    const b = safetyNumber(bob, alice);
    expect(a.displayable).toMatch(/^\d{60}$/);
    expect(a.displayable).toBe(b.displayable);
    expect(a.scannable).not.toEqual(b.scannable);
  });

  it("changes when either identity key or account id changes", () => {
    const base = safetyNumber(alice, bob).displayable;
    const otherKey = seededRng(3)(32);
    expect(safetyNumber(alice, { ...bob, identityKey: otherKey }).displayable).not.toBe(base);
    expect(safetyNumber({ ...alice, identityKey: otherKey }, bob).displayable).not.toBe(base);
    expect(safetyNumber(alice, { ...bob, accountId: "someone-else" }).displayable).not.toBe(base);
  });

  it("QR payloads match crosswise and only for the same pair of keys", () => {
    const a = safetyNumber(alice, bob);
    const b = safetyNumber(bob, alice);
    expect(compareScannable(a.scannable, b.scannable)).toBe(true);
    expect(compareScannable(b.scannable, a.scannable)).toBe(true);
    const mitm = safetyNumber(bob, { ...alice, identityKey: seededRng(4)(32) });
    expect(compareScannable(a.scannable, mitm.scannable)).toBe(false);
    expect(() => compareScannable(a.scannable, b.scannable.subarray(1))).toThrow();
  });
});
