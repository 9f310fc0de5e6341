/**
 * Issue 2 acceptance: one-time prekeys are consumed exactly once even when many bundle fetches
 * race (src/db/prekeys.ts takes each key with a single DELETE ... RETURNING statement).
 */
import { describe, expect, it } from "vitest";
import { call, register } from "../support/identity";

const STORED = 25;
const FETCHES = 40;

describe("concurrent bundle fetches", () => {
  it(`${FETCHES} concurrent fetches against ${STORED} keys of each kind: each key served once, the rest null / last-resort`, async () => {
    const owner = await register({ oneTime: STORED, pqOneTime: STORED });
    const readers = await Promise.all([register(), register(), register(), register()]);

    const results = await Promise.all(
      Array.from({ length: FETCHES }, (_, i) => call("GET", `/v1/keys/bundle/${owner.accountId}`, { token: readers[i % readers.length]!.token })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(FETCHES).fill(200));
    const entries = results.map((r) => r.body.devices[0]);

    const served = entries.map((e) => e.one_time_prekey).filter((k) => k !== null);
    expect(served).toHaveLength(STORED);
    expect(new Set(served.map((k) => k.key_id)).size).toBe(STORED);
    // Exactly the uploaded keys, each with its own public key.
    expect([...served].sort((a, b) => a.key_id - b.key_id)).toEqual(owner.keys.one_time_prekeys);
    expect(entries.filter((e) => e.one_time_prekey === null)).toHaveLength(FETCHES - STORED);

    const pqOneTime = entries.map((e) => e.pq_prekey).filter((k) => !k.last_resort);
    expect(pqOneTime).toHaveLength(STORED);
    expect(new Set(pqOneTime.map((k) => k.key_id)).size).toBe(STORED);
    const lastResort = entries.map((e) => e.pq_prekey).filter((k) => k.last_resort);
    expect(lastResort).toHaveLength(FETCHES - STORED);
    for (const k of lastResort) expect(k).toEqual({ ...owner.keys.pq_last_resort_prekey!, last_resort: true });

    const left = await call("GET", "/v1/keys/prekeys", { token: owner.token });
    expect(left.body).toEqual({ one_time_prekeys: 0, pq_one_time_prekeys: 0, pq_last_resort: true });
  });
});
