/**
 * @module Sampling CPU profiles of the Worker's isolate (the Worker and its Durable Objects share
 * it) through the inspector wrangler dev exposes, over the Chrome DevTools Protocol, and the
 * functions with the most self time. Used by `bench:load --profile` to show where time goes.
 */
import WebSocket from "ws";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export class Inspector {
  private nextId = 0;
  private readonly pending = new Map<number, (result: unknown) => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.on("message", (data: Buffer) => {
      const reply = JSON.parse(data.toString()) as { id?: number; result?: unknown };
      if (reply.id !== undefined) this.pending.get(reply.id)?.(reply.result);
    });
  }

  static async connect(url: string): Promise<Inspector> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    return new Inspector(ws);
  }

  call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.nextId;
    return new Promise((resolve) => {
      this.pending.set(id, (result) => resolve(result as T));
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  async start(): Promise<void> {
    await this.call("Profiler.enable");
    // 1 ms: a profile of a full-size run at 200 µs grew workerd past 3 GB and took longer than the phase.
    await this.call("Profiler.setSamplingInterval", { interval: 1000 });
    await this.call("Profiler.start");
  }

  async stop(): Promise<CpuProfile> {
    return (await this.call<{ profile: CpuProfile }>("Profiler.stop")).profile;
  }

  close(): void {
    this.ws.close();
  }
}

export interface HotFunction {
  name: string;
  selfMs: number;
  share: number;
}

/** Self time per function (name and bundle line), most first; idle and GC are kept, labelled. */
export function hotFunctions(profile: CpuProfile, top: number): HotFunction[] {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((nodeId, i) => {
    const frame = byNode.get(nodeId)!.callFrame;
    const name = `${frame.functionName || "(anonymous)"}${frame.url ? `:${frame.lineNumber + 1}` : ""}`;
    const us = profile.timeDeltas[i] ?? 0;
    self.set(name, (self.get(name) ?? 0) + us);
    if (name !== "(idle)") total += us;
  });
  return [...self.entries()]
    .filter(([name]) => name !== "(idle)")
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => ({ name, selfMs: us / 1000, share: us / total }));
}
