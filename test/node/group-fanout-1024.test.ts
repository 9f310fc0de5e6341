/**
 * Issue 6's scale acceptance against the real server (wrangler dev: the Worker, its Durable
 * Objects, local D1 and the `fanout` queue with its consumer): a 1,024-member group receives its
 * creation event and a message on every member device exactly once through the queue path, half
 * of the devices online when it is sent and half connecting afterwards (their inboxes drain).
 *
 * Members are simulated at the API level (accounts seeded into D1, tokens minted, lean sockets that
 * ACK what they receive; test/node/support/seed.ts). It runs here rather than in the workers pool
 * because the pool's single process slows down with every Durable Object it has created (measured:
 * ~40 ms for each of the first 100 new inboxes, ~200 ms each after 300, ~460 ms after 500), so
 * 1,023 inboxes do not fit a test there; wrangler dev creates the 1,000th as fast as the first.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { BenchSocket, type ReceivedEntry } from "../../bench/load/client";
import { seedDevices, type SeededDevice } from "./support/seed";
import { serverForThisFile } from "./support/suite-server";

const MEMBERS = 1024;
/** wrangler.toml's GROUP_FANOUT_BATCH_DEVICES: devices per fanout queue job. */
const GROUP_FANOUT_BATCH_DEVICES = 100;
/** Sockets opened at once (one client machine playing 1,023 phones). */
const CONNECT_CONCURRENCY = 32;

const tokenSecret = randomBytes(32).toString("hex");
const { server } = serverForThisFile("group-1024", { wranglerArgs: ["--var", `AUTH_TOKEN_SECRET:${tokenSecret}`] });

/** Every entry each device received, by account id. */
const received = new Map<string, ReceivedEntry[]>();

async function connect(devices: SeededDevice[]): Promise<BenchSocket[]> {
  const sockets: BenchSocket[] = [];
  for (let i = 0; i < devices.length; i += CONNECT_CONCURRENCY) {
    const slice = devices.slice(i, i + CONNECT_CONCURRENCY);
    sockets.push(
      ...(await Promise.all(
        slice.map((d) =>
          BenchSocket.open(server().url, d, 0, {
            result: () => {},
            message: () => {},
            entry: (entry) => received.get(d.accountId)!.push(entry),
          }),
        ),
      )),
    );
  }
  return sockets;
}

async function post(token: string, path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server().url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** How many devices hold exactly one copy of the entry at `chatSeq` (and how many more than one). */
function copiesAt(devices: SeededDevice[], chatId: string, chatSeq: number, kind: string): { once: number; more: number } {
  let once = 0;
  let more = 0;
  for (const d of devices) {
    const n = received.get(d.accountId)!.filter((e) => e.chat_id === chatId && e.chat_seq === chatSeq && e.kind === kind).length;
    if (n === 1) once++;
    if (n > 1) more++;
  }
  return { once, more };
}

describe("a 1,024-member group", () => {
  it("gets the creation event and a message on every device exactly once through the fanout queue, online or not", { timeout: 600_000 }, async () => {
    const [admin, ...members] = await seedDevices(server(), MEMBERS, tokenSecret);
    for (const m of members) received.set(m.accountId, []);
    const online = members.filter((_, i) => i % 2 === 0);
    const offline = members.filter((_, i) => i % 2 === 1);
    const sockets = await connect(online);

    const created = await post(admin!.token, "/v1/groups", { name: "all hands", members: members.map((m) => m.accountId) });
    expect(created.status, JSON.stringify(created.json).slice(0, 300)).toBe(201);
    const chatId = created.json.chat_id as string;
    expect(created.json.members).toHaveLength(MEMBERS);

    const msgId = `all-hands-${randomBytes(4).toString("hex")}`;
    const sent = await post(admin!.token, `/v1/groups/${chatId}/messages`, {
      msg_id: msgId,
      content: randomBytes(256).toString("base64"),
      key_holders: members.map((m) => ({ account_id: m.accountId, device_id: m.deviceId, registration_id: m.registrationId })),
      distributions: [],
    });
    expect(sent.status, JSON.stringify(sent.json).slice(0, 300)).toBe(200);
    expect(sent.json).toMatchObject({ chat_id: chatId, msg_id: msgId, chat_seq: 2, duplicate: false });

    // The other half comes online after the send: their inboxes hold both entries (or get them as the queue delivers).
    sockets.push(...(await connect(offline)));
    await expect
      .poll(() => copiesAt(members, chatId, 2, "message").once + copiesAt(members, chatId, 1, "group_event").once, { timeout: 300_000, interval: 500 })
      .toBe(2 * members.length);
    // A moment for a duplicate (a redelivered queue batch) to show up, then exactly once each.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(copiesAt(members, chatId, 1, "group_event")).toEqual({ once: members.length, more: 0 });
    expect(copiesAt(members, chatId, 2, "message")).toEqual({ once: members.length, more: 0 });
    for (const m of members) expect(received.get(m.accountId)!.find((e) => e.chat_seq === 2)?.msg_id).toBe(msgId);

    // Both entries took the queue path: wrangler dev logs every consumer batch as "QUEUE <name> acked/total".
    const batches = [...server().output().replace(/\x1b\[[0-9;]*m/g, "").matchAll(/QUEUE parley-fanout (\d+)\/(\d+)/g)];
    const jobsAcked = batches.reduce((sum, b) => sum + Number(b[1]), 0);
    expect(jobsAcked).toBeGreaterThanOrEqual(2 * Math.ceil((MEMBERS - 1) / GROUP_FANOUT_BATCH_DEVICES));
    await Promise.all(sockets.map((s) => s.close()));
  });
});
