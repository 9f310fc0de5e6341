/**
 * @module Operational metrics, written to Workers Analytics Engine through the optional `METRICS`
 * binding (wrangler.toml; locally miniflare's dataset is a no-op sink). One data point per event,
 * indexed by the metric name so Analytics Engine samples each metric on its own. Labels are
 * low-cardinality words (outcome, platform, path): never content, handles, ids or addresses.
 * docs/OPERATIONS.md "Metrics" lists the columns of each metric and example queries.
 */
import { logEvent, describeError } from "./log";

export type Metric =
  /** One send (1:1 or group, HTTP or socket) the ChatRoom answered, from the Worker's view; a group send's envelopes are its ciphertext plus its distributions. */
  | { name: "send"; outcome: string; latencyMs: number; envelopes: number }
  /** Recipient devices of one accepted message, and whether the ChatRoom fanned out inline or via the queue. */
  | { name: "fanout"; path: "inline" | "queue"; devices: number }
  /** An entries frame sent to a device: how long its oldest entry waited in the inbox. */
  | { name: "deliver"; waitMs: number; entries: number }
  /** A device acknowledged everything sent: time since the last entries frame went out. */
  | { name: "ack"; latencyMs: number; entries: number }
  /** An inbox after an enqueue: its depth (entries and bytes waiting for the device). */
  | { name: "inbox_depth"; entries: number; bytes: number }
  /** One push job's outcome. */
  | { name: "push"; platform: string; outcome: string; attempts: number }
  /** One queue batch handed to a consumer (its size; redeliveries show as attempts > 1). */
  | { name: "queue_batch"; queue: string; messages: number; maxAttempts: number };

export type MetricName = Metric["name"];

/** Where a metric's label and values go: blob1 = name, blob2 = label; double1..3 = values. */
export function toDataPoint(metric: Metric): AnalyticsEngineDataPoint {
  const [label, values] = columns(metric);
  return { indexes: [metric.name], blobs: [metric.name, label], doubles: values };
}

function columns(metric: Metric): [string, number[]] {
  switch (metric.name) {
    case "send":
      return [metric.outcome, [metric.latencyMs, metric.envelopes]];
    case "fanout":
      return [metric.path, [metric.devices]];
    case "deliver":
      return ["", [metric.waitMs, metric.entries]];
    case "ack":
      return ["", [metric.latencyMs, metric.entries]];
    case "inbox_depth":
      return ["", [metric.entries, metric.bytes]];
    case "push":
      return [`${metric.platform}:${metric.outcome}`, [metric.attempts]];
    case "queue_batch":
      return [metric.queue, [metric.messages, metric.maxAttempts]];
  }
}

/** Records a metric if the binding exists. Never throws: a metric must not fail the work it measures. */
export function recordMetric(env: { METRICS?: AnalyticsEngineDataset }, metric: Metric): void {
  if (!env.METRICS) return;
  try {
    env.METRICS.writeDataPoint(toDataPoint(metric));
  } catch (err) {
    logEvent("warn", "metric_write_failed", { metric: metric.name, error: describeError(err) });
  }
}
