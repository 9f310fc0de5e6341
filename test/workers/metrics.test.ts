/**
 * Metrics reach the Analytics Engine binding (wrangler.toml METRICS; locally a no-op dataset whose
 * writes are observed here): send latency and outcome, fanout size, inbox depth, delivery wait and
 * ack latency, each a data point indexed by its name with no identifiers of people in it.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { recordMetric, toDataPoint, type Metric } from "../../src/metrics";
import { createGroup, groupSend } from "../support/groups";
import { register } from "../support/identity";
import { asRecipient, InboxSocket, newMsgId, send } from "../support/messaging";

afterEach(() => vi.restoreAllMocks());

function captureDataPoints(): AnalyticsEngineDataPoint[] {
  expect(env.METRICS, "wrangler.toml binds METRICS").toBeDefined();
  const points: AnalyticsEngineDataPoint[] = [];
  vi.spyOn(env.METRICS!, "writeDataPoint").mockImplementation((point) => void points.push(point ?? {}));
  return points;
}

function named(points: AnalyticsEngineDataPoint[], name: string): AnalyticsEngineDataPoint[] {
  return points.filter((p) => p.indexes?.[0] === name);
}

describe("metrics", () => {
  it("record a send, its fanout, the inbox depth, the delivery wait and the ack latency", async () => {
    const points = captureDataPoints();
    const alice = await register();
    const bob = await register();

    const msgId = newMsgId();
    expect((await send(alice, bob.accountId, [asRecipient(bob)], msgId)).status).toBe(200);
    expect((await send(alice, bob.accountId, [asRecipient(bob)], msgId)).status).toBe(200); // a retry

    const sends = named(points, "send");
    expect(sends.map((p) => p.blobs?.[1])).toEqual(["accepted", "duplicate"]);
    for (const p of sends) {
      expect(p.doubles?.[0]).toBeGreaterThanOrEqual(0); // latency ms
      expect(p.doubles?.[1]).toBe(1); // envelopes
    }
    // A duplicate fans out nothing new.
    expect(named(points, "fanout")).toEqual([{ indexes: ["fanout"], blobs: ["fanout", "inline"], doubles: [1] }]);
    expect(named(points, "inbox_depth").at(-1)?.doubles).toEqual([1, expect.any(Number)]);

    const socket = await InboxSocket.open(bob);
    const [entry] = await socket.drain();
    socket.ack(entry!.seq);
    const delivered = named(points, "deliver");
    expect(delivered.length).toBeGreaterThan(0);
    expect(delivered[0]!.doubles?.[1]).toBe(1);
    await vi.waitFor(() => expect(named(points, "ack").map((p) => p.doubles?.[1])).toEqual([1]), { timeout: 10_000 });
    socket.close();

    const identifiers = [alice.accountId, bob.accountId, msgId];
    for (const point of points) for (const id of identifiers) expect(JSON.stringify(point)).not.toContain(id);
  });

  it("record group sends as sends: outcome, latency, and the ciphertext plus its distributions", async () => {
    const alice = await register();
    const bob = await register();
    const chatId = (await createGroup(alice, [bob.accountId])).body.chat_id as string;
    const points = captureDataPoints();
    expect((await groupSend(alice, chatId, { distributions: [asRecipient(bob)] })).status).toBe(200);
    expect((await groupSend(alice, chatId, { holders: [asRecipient(bob)], distributions: [asRecipient(bob)] })).status).toBe(409);
    expect(named(points, "send").map((p) => [p.blobs?.[1], p.doubles?.[1]])).toEqual([
      ["accepted", 2],
      ["device_mismatch", 2],
    ]);
  });

  it("fit Analytics Engine's limits for every metric", () => {
    const samples: Metric[] = [
      { name: "send", outcome: "device_mismatch", latencyMs: 12, envelopes: 3 },
      { name: "fanout", path: "queue", devices: 1500 },
      { name: "deliver", waitMs: 5, entries: 100 },
      { name: "ack", latencyMs: 40, entries: 100 },
      { name: "inbox_depth", entries: 10, bytes: 4096 },
      { name: "push", platform: "apns", outcome: "retry", attempts: 2 },
      { name: "queue_batch", queue: "parley-push", messages: 100, maxAttempts: 1 },
    ];
    for (const metric of samples) {
      const point = toDataPoint(metric);
      expect(point.indexes).toEqual([metric.name]);
      expect(new TextEncoder().encode(metric.name).length).toBeLessThanOrEqual(96);
      expect(point.blobs!.length).toBeLessThanOrEqual(20);
      expect(point.doubles!.length).toBeLessThanOrEqual(20);
      for (const d of point.doubles!) expect(Number.isFinite(d)).toBe(true);
    }
  });

  it("never fail the work they measure", () => {
    const failing = { writeDataPoint: () => { throw new Error("dataset unavailable"); } } as unknown as AnalyticsEngineDataset;
    vi.spyOn(console, "log").mockImplementation(() => {});
    expect(() => recordMetric({ METRICS: failing }, { name: "fanout", path: "inline", devices: 2 })).not.toThrow();
    expect(() => recordMetric({}, { name: "fanout", path: "inline", devices: 2 })).not.toThrow();
  });
});
