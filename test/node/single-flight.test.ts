/**
 * SingleFlight (src/single-flight.ts), which the ChatRoom's fanout and the inbox's receipt flush run
 * through: one round at a time, every caller's round starts after its call, and a caller waits for
 * its own round only (a send's ack must not wait for as long as other sends keep arriving).
 */
import { describe, expect, it } from "vitest";
import { SingleFlight } from "../../src/single-flight";

const tick = () => new Promise((resolve) => setTimeout(resolve, 2));

describe("SingleFlight", () => {
  it("resolves each caller after the round that started after its call, not after later rounds", async () => {
    let running = 0;
    let maxRunning = 0;
    const roundsDone: number[] = [];
    let rounds = 0;
    const flight = new SingleFlight(async () => {
      const round = ++rounds;
      running++;
      maxRunning = Math.max(maxRunning, running);
      await tick();
      running--;
      roundsDone.push(round);
    });

    const resolvedAfter: Record<string, number> = {};
    const call = (name: string) => flight.run().then(() => void (resolvedAfter[name] = roundsDone.length));
    // A steady stream: a new caller arrives during every round, ten rounds long.
    const calls = [call("first")];
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      calls.push(call(`during-${i}`));
      while (roundsDone.length === i && rounds === i + 1) await tick();
    }
    await Promise.all(calls);
    expect(maxRunning).toBe(1);
    // The first caller's round was round 1: it resolved then, not after the stream ended.
    expect(resolvedAfter.first).toBe(1);
    // Every caller resolved after a round that started after its call, and before the last round.
    for (let i = 0; i < 10; i++) expect(resolvedAfter[`during-${i}`]).toBeLessThanOrEqual(i + 2);
  });

  it("fails every waiting caller when a round throws, and runs again on the next call", async () => {
    let fail = true;
    let rounds = 0;
    const flight = new SingleFlight(async () => {
      rounds++;
      await tick();
      if (fail) throw new Error("inbox unreachable");
    });
    const first = flight.run();
    const second = flight.run();
    await expect(first).rejects.toThrow("inbox unreachable");
    await expect(second).rejects.toThrow("inbox unreachable");
    fail = false;
    await expect(flight.run()).resolves.toBeUndefined();
    expect(rounds).toBe(2);
  });
});
