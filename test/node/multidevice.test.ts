/**
 * Issue 10 acceptance, end to end against the real server (wrangler dev) with the SDK: alice links
 * a second device by its QR payload (with the last messages of her chats as a history bundle);
 * bob's messages reach both devices; what device 2 sends shows on device 1; after device 2 is
 * unlinked it receives nothing more and its token is refused. And bob's client, behind a server
 * response tampered with in transit, never encrypts to a device alice's primary did not sign.
 * The same flow through the `parley` CLI: link, link-approve, devices, history, unlink.
 */
import { join } from "node:path";
import WebSocket from "ws";
import { describe, expect, it } from "vitest";
import { Client, type ClientEvent, type ClientEventOf, CryptoError, MemoryKeyValueStore, ParleyApiError, type WebSocketConstructor } from "../../src/client/index";
import type { FetchLike } from "../../src/client/api";
import { decodeDeviceList } from "../../src/client/crypto/device-list";
import { nextDeviceList } from "../../src/client/linking";
import { fromBase64 } from "../../src/protocol/encoding";
import { ProtocolStore } from "../../src/client/store/protocol-store";
import type { KeyValueStore } from "../../src/client/store/types";
import { parley, parleyRunning } from "./support/cli";
import { serverForThisFile } from "./support/suite-server";

const fixture = serverForThisFile("multidevice");
const WS = WebSocket as unknown as WebSocketConstructor;
const serverUrl = () => fixture.server().url;

let counter = 0;
const handle = (name: string) => `${name}${++counter}x${Math.floor(Math.random() * 1e6)}`;

function register(name: string, options: { store?: KeyValueStore; fetch?: FetchLike } = {}): Promise<Client> {
  return Client.register({ server: serverUrl(), store: options.store ?? new MemoryKeyValueStore(), handle: handle(name), WebSocket: WS, ...(options.fetch ? { fetch: options.fetch } : {}) });
}

/** Links a new device to `primary`'s account; resolves with it and what its history import gave. */
async function link(primary: Client, historyMessages = 0) {
  const pending = await Client.startLink({ server: serverUrl(), store: new MemoryKeyValueStore(), WebSocket: WS, deviceName: "laptop" });
  const [linked, approved] = await Promise.all([pending.complete({ pollMs: 100 }), primary.approveLink(pending.payload, { historyMessages })]);
  expect(linked.client.account).toMatchObject({ account_id: primary.account.account_id, device_id: approved.device_id });
  return linked;
}

/** Connects a client and records its events. */
function listen(client: Client): ClientEvent[] {
  const events: ClientEvent[] = [];
  for (const type of ["message", "error"] as const) client.on(type, (e) => events.push(e));
  client.connect();
  return events;
}

const texts = (events: ClientEvent[]) => events.filter((e): e is ClientEventOf<"message"> => e.type === "message").map((e) => e.text);

async function waitFor(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("a second device", () => {
  it("links with history, gets bob's messages, syncs its own to device 1, and stops at unlink", async () => {
    const alice = await register("alice");
    const bob = await register("bob");
    const aliceEvents = listen(alice);
    const bobEvents = listen(bob);
    for (const text of ["h1", "h2", "h3", "h4"]) await alice.send(bob.account.handle, text);
    await waitFor(() => texts(bobEvents).length === 4, "bob to get alice's first messages");
    const reply = await bob.send(alice.account.handle, "h5 from bob");
    await waitFor(() => texts(aliceEvents).includes("h5 from bob"), "alice to get bob's reply");

    // Linking: device 2 gets the last 3 messages of the chat from device 1's history.
    const { client: laptop, history } = await link(alice, 3);
    expect(laptop.account.device_id).toBe(2);
    expect(history).toEqual({ chats: 1, messages: 3 });
    expect((await laptop.history(reply.chat_id)).map((m) => [m.text, m.outgoing])).toEqual([
      ["h3", true],
      ["h4", true],
      ["h5 from bob", false],
    ]);
    expect((await laptop.chats()).map((c) => c.chat_id)).toEqual([reply.chat_id]);
    expect((await alice.devices()).devices.map((d) => d.device_id)).toEqual([1, 2]);

    // Bob's next message reaches both devices, although the chat had just cached alice's devices
    // (the primary told it of the change; bob's client learns of device 2 from the 409 and
    // verifies it on the signed list). Device 1 addresses device 2 from now on (outbox sync).
    const laptopEvents = listen(laptop);
    await bob.send(alice.account.handle, "to both of you");
    await waitFor(() => texts(aliceEvents).includes("to both of you") && texts(laptopEvents).includes("to both of you"), "both of alice's devices");
    await alice.send(bob.account.handle, "welcome, laptop");
    await waitFor(() => texts(laptopEvents).includes("welcome, laptop"), "device 2 to get device 1's copy");

    // What device 2 sends reaches bob and shows on device 1 as alice's own message.
    await laptop.send(bob.account.handle, "sent from the laptop");
    await waitFor(() => texts(bobEvents).includes("sent from the laptop"), "bob to get the laptop's message");
    await waitFor(() => texts(aliceEvents).includes("sent from the laptop"), "device 1 to get the laptop's copy");
    const copy = aliceEvents.find((e): e is ClientEventOf<"message"> => e.type === "message" && e.text === "sent from the laptop")!;
    expect(copy).toMatchObject({ outgoing: true, peer: bob.account.account_id, from: { account_id: alice.account.account_id, device_id: 2 } });

    // Unlink: device 2 is told (socket closed), receives nothing more, and its token is refused.
    await alice.unlink(2);
    await waitFor(() => laptopEvents.some((e) => e.type === "error" && e.code === "terminated"), "device 2's socket to be closed");
    await bob.send(alice.account.handle, "after the unlink");
    await alice.send(bob.account.handle, "alice after the unlink");
    await waitFor(() => texts(aliceEvents).includes("after the unlink") && texts(bobEvents).includes("alice after the unlink"), "the messages after the unlink");
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(texts(laptopEvents)).not.toContain("after the unlink");
    expect(texts(laptopEvents)).not.toContain("alice after the unlink");
    const refused = await laptop.devices().catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ParleyApiError);
    expect(refused).toMatchObject({ status: 401, code: "unauthorized" });
    const mine = await alice.devices();
    expect(mine.devices.map((d) => d.device_id)).toEqual([1]);
    expect(mine.removed_devices).toEqual([expect.objectContaining({ device_id: 2, reason: "unlinked" })]);
    for (const c of [alice, bob, laptop]) await c.close();
  });
});

describe("a device that logs itself out", () => {
  it("is gone at once, and the primary hears of it on its next connect and re-signs its list", async () => {
    const store = new MemoryKeyValueStore();
    const alice = await register("alice", { store });
    const { client: laptop } = await link(alice);
    await laptop.unlink(laptop.account.device_id);
    await expect(laptop.devices()).rejects.toMatchObject({ status: 401 });
    await alice.close();
    const again = await Client.open({ server: serverUrl(), store, WebSocket: WS });
    const removed: ClientEventOf<"device_removed">[] = [];
    again.on("device_removed", (e) => removed.push(e));
    again.connect();
    await waitFor(() => removed.length === 1, "the device_removed event");
    expect(removed[0]).toMatchObject({ device_id: 2, name: "laptop", reason: "logged_out" });
    const list = (await again.devices()).device_list!;
    expect(decodeDeviceList(fromBase64(list.list)!)).toMatchObject({ version: 2, devices: [expect.objectContaining({ deviceId: 1 })] });
    await again.close();
  });
});

describe("bob's client and a tampered server response", () => {
  /** A fetch that rewrites the bundle responses for one account and records every message sent. */
  function tampering(accountId: string, rewrite: (bundle: any, ghost: any) => Promise<any>, ghostAccount: string) {
    const sent: { envelopes: { account_id: string; device_id: number }[] }[] = [];
    const fetchLike: FetchLike = async (input, init) => {
      if (init?.method === "POST" && input.endsWith("/v1/messages")) sent.push(JSON.parse(String(init.body)));
      const res = await fetch(input, init);
      if (!input.includes(`/v1/keys/bundle/${accountId}`) || !res.ok) return res;
      // The ghost: a real, valid device of another account (fetched with the caller's own token).
      const other = await (await fetch(`${serverUrl()}/v1/keys/bundle/${ghostAccount}`, { headers: init?.headers })).json();
      const ghost = { ...other.devices[0], device_id: 3 };
      return new Response(JSON.stringify(await rewrite(await res.json(), ghost)), { status: 200, headers: { "content-type": "application/json" } });
    };
    return { fetch: fetchLike, sent };
  }

  it("never encrypts to a device that is not on the signed list, and refuses a list alice's primary did not sign", async () => {
    const alice = await register("alice");
    const { client: laptop } = await link(alice);
    const eveStore = new MemoryKeyValueStore();
    const eve = await register("eve", { store: eveStore });
    // Eve's real, valid device keys, presented as a third device of alice's.
    const injected = tampering(alice.account.account_id, async (bundle, ghost) => ({ ...bundle, devices: [...bundle.devices, ghost] }), eve.account.account_id);
    const bob = await register("bob", { fetch: injected.fetch });
    await bob.send(alice.account.handle, "only for alice's real devices");
    const targets = injected.sent.flatMap((m) => m.envelopes.map((e) => `${e.account_id === alice.account.account_id ? "alice" : "bob"}.${e.device_id}`));
    expect(targets.sort()).toEqual(["alice.1", "alice.2"]);

    // A list naming the ghost, signed by eve instead of alice's primary: refused, nothing sent.
    const eveIdentity = (await new ProtocolStore(eveStore).getIdentity()).identity;
    const forged = tampering(alice.account.account_id, async (bundle, ghost) => ({
      ...bundle,
      devices: [...bundle.devices, ghost],
      device_list: await nextDeviceList(eveIdentity, alice.account.account_id, bundle.device_list, [...bundle.devices, ghost], Date.now()).catch(
        // signDeviceList insists the signer is the listed primary: list eve as device 1 instead.
        () => nextDeviceList(eveIdentity, alice.account.account_id, bundle.device_list, [{ ...bundle.devices[0], identity_key: ghost.identity_key }, ...bundle.devices.slice(1), ghost], Date.now()),
      ),
    }), eve.account.account_id);
    const carol = await register("carol", { fetch: forged.fetch });
    const failure = await carol.send(alice.account.handle, "must not leave").catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(CryptoError);
    expect((failure as CryptoError).code).toBe("INVALID_SIGNATURE");
    expect(forged.sent).toEqual([]);
    for (const c of [alice, laptop, eve, bob, carol]) await c.close();
  });
});

describe("the parley CLI", () => {
  it("links a device by its payload (QR code on stderr), lists, shows the transferred history and unlinks", async () => {
    const server = serverUrl();
    const dir = fixture.workDir();
    const [alice, laptop, bob] = ["cli-alice", "cli-laptop", "cli-bob"].map((d) => join(dir, d));
    const aliceHandle = handle("alice");
    const bobHandle = handle("bob");
    expect((await parley(server, alice!, "register", aliceHandle)).code).toBe(0);
    expect((await parley(server, bob!, "register", bobHandle)).code).toBe(0);
    const sent = await parley(server, alice!, "send", bobHandle, "before the laptop existed");
    expect(sent.code, sent.stderr).toBe(0);
    const chatId = sent.lines[0]!.chat_id as string;

    const linking = parleyRunning(server, laptop!, "link", "--name", "laptop");
    const { link_payload } = await linking.nextLine();
    expect(link_payload).toMatch(/^parley-link:/);
    const approved = await parley(server, alice!, "link-approve", link_payload as string, "--history", "10");
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.lines).toEqual([{ account_id: expect.any(String), device_id: 2 }]);
    const linked = await linking.done;
    expect(linked.code, linked.stderr).toBe(0);
    expect(linked.stderr).toContain("█"); // the QR code
    expect(linked.lines[1]).toEqual({ account_id: approved.lines[0]!.account_id, device_id: 2, handle: aliceHandle, history_messages: 1 });

    const history = await parley(server, laptop!, "history", chatId);
    expect(history.lines.map((l) => [l.text, l.outgoing])).toEqual([["before the laptop existed", true]]);
    const listed = await parley(server, laptop!, "devices");
    expect(listed.lines.map((l) => [l.device_id, l.name, l.primary, l.this_device])).toEqual([
      [1, null, true, false],
      [2, "laptop", false, true],
    ]);

    expect((await parley(server, alice!, "unlink", "2")).lines).toEqual([{ unlinked: 2 }]);
    const refused = await parley(server, laptop!, "devices");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/401 unauthorized/);
    expect((await parley(server, alice!, "devices")).lines).toEqual([
      { device_id: 1, name: null, created_at: expect.any(Number), primary: true, this_device: true },
      { device_id: 2, name: "laptop", removed_at: expect.any(Number), reason: "unlinked" },
    ]);
    expect((await parley(server, alice!, "unlink", "1")).code).toBe(1);
  });
});
