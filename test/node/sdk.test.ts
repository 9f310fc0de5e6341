/**
 * The SDK's guarantees against the real server: each message emitted once even when the inbox
 * redelivers it, an undecryptable message reported (never silently dropped) without blocking the
 * inbox, a broken session re-established by the next exchange, and a send queued before a restart
 * acked after it under the app's own msg_id.
 */
import WebSocket from "ws";
import { describe, expect, it } from "vitest";
import { ApiClient } from "../../src/client/api";
import { Client, type ClientEvent, type ClientEventOf, MemoryKeyValueStore, type WebSocketConstructor } from "../../src/client/index";
import { signAuthChallenge } from "../../src/client/crypto/auth-challenge";
import { ProtocolStore } from "../../src/client/store/protocol-store";
import type { KeyValueStore } from "../../src/client/store/types";
import { fromBase64, toBase64 } from "../../src/protocol/encoding";
import { serverForThisFile } from "./support/suite-server";

const fixture = serverForThisFile("sdk");
const WS = WebSocket as unknown as WebSocketConstructor;

const serverUrl = () => fixture.server().url;

let counter = 0;
function handle(name: string): string {
  counter++;
  return `${name}${counter}x${Math.floor(Math.random() * 1e6)}`;
}

async function registered(name: string, store: KeyValueStore = new MemoryKeyValueStore()): Promise<Client> {
  return Client.register({ server: serverUrl(), store, handle: handle(name), WebSocket: WS });
}

/** Connects and collects events until the backlog is drained and processed. */
async function receiveAll(client: Client): Promise<ClientEvent[]> {
  const events: ClientEvent[] = [];
  for (const type of ["message", "error", "receipt", "gap"] as const) client.on(type, (e) => events.push(e));
  client.connect();
  await client.drained();
  return events;
}

async function waitFor<T>(read: () => T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A bare API client authenticated as a registered device (for requests the SDK would not make). */
async function rawApi(store: KeyValueStore, accountId: string): Promise<ApiClient> {
  const identity = await new ProtocolStore(store).getIdentity();
  const raw = new ApiClient(serverUrl());
  let token: string | null = null;
  raw.useTokens({
    token: async () => {
      if (token) return token;
      const c = await raw.challenge(accountId, 1);
      const signature = await signAuthChallenge(identity, fromBase64(c.challenge)!);
      token = (await raw.token({ account_id: accountId, device_id: 1, challenge: c.challenge, signature: toBase64(signature) })).token;
      return token;
    },
    invalidate: () => {
      token = null;
    },
  });
  return raw;
}

const messagesOf = (events: ClientEvent[]) => events.filter((e): e is ClientEventOf<"message"> => e.type === "message");

describe("receiving", () => {
  it("emits each message once even when the inbox delivers it again", async () => {
    const alice = await registered("alice");
    const bobStore = new MemoryKeyValueStore();
    const bob = await registered("bob", bobStore);
    for (const text of ["one", "two", "three"]) await alice.send(bob.account.handle, text);

    // First run: bob processes and persists everything, but neither his ACK reaches the server nor
    // his cursor reaches storage (a crash at the worst moment), so all three are delivered again.
    const forgetful: KeyValueStore = {
      get: (k) => bobStore.get(k),
      put: (k, v) => (k === "client/cursor" ? Promise.resolve() : bobStore.put(k, v)),
      delete: (k) => bobStore.delete(k),
    };
    class AckDroppingWebSocket extends WebSocket {
      override send(data: unknown): void {
        if (typeof data === "string" && data.startsWith('{"type":"ack"')) return;
        super.send(data as string);
      }
    }
    const firstRun = await Client.open({ server: serverUrl(), store: forgetful, WebSocket: AckDroppingWebSocket as unknown as WebSocketConstructor });
    const first = await receiveAll(firstRun);
    expect(messagesOf(first).map((m) => m.text)).toEqual(["one", "two", "three"]);
    await firstRun.close();

    // Alice sends one more; bob's second run gets the redelivered three plus the new one.
    await alice.send(bob.account.handle, "four");
    const secondRun = await Client.open({ server: serverUrl(), store: bobStore, WebSocket: WS });
    const second = await receiveAll(secondRun);
    expect(messagesOf(second).map((m) => m.text)).toEqual(["four"]);
    // The redelivered three were recognised as seen: not re-emitted, and not mistaken for replays.
    expect(second.filter((e) => e.type === "error")).toEqual([]);
    await secondRun.close();
    await alice.close();
    await bob.close();
  }, 90_000);

  it("reports an undecryptable message, keeps the inbox moving, and recovers the session", async () => {
    const alice = await registered("alice");
    const bobStore = new MemoryKeyValueStore();
    const bob = await registered("bob", bobStore);
    const malloryStore = new MemoryKeyValueStore();
    const mallory = await registered("mallory", malloryStore);

    // Mallory sends garbage that claims to be a ratchet message: no session can open it.
    const raw = await rawApi(malloryStore, mallory.account.account_id);
    const bobDevices = await raw.bundle(bob.account.account_id);
    const garbageId = crypto.randomUUID();
    await raw.send({
      to: bob.account.account_id,
      msg_id: garbageId,
      envelopes: [
        {
          account_id: bob.account.account_id,
          device_id: 1,
          registration_id: bobDevices.devices[0]!.registration_id,
          type: "message",
          content: toBase64(Uint8Array.of(0x11, ...crypto.getRandomValues(new Uint8Array(80)))),
        },
      ],
    });
    await alice.send(bob.account.handle, "hello after the garbage");

    const events = await receiveAll(bob);
    const errors = events.filter((e): e is ClientEventOf<"error"> => e.type === "error");
    expect(errors).toEqual([
      expect.objectContaining({ code: "undecryptable", msg_id: garbageId, from: { account_id: mallory.account.account_id, device_id: 1 } }),
    ]);
    expect(messagesOf(events).map((m) => m.text)).toEqual(["hello after the garbage"]);

    // Now break bob's session with alice (as a restored backup or a bug would).
    await bobStore.delete(`session/${alice.account.account_id}.1`);
    const aliceEvents: ClientEvent[] = [];
    alice.on("message", (e) => aliceEvents.push(e));
    alice.connect();
    await alice.drained();
    await alice.send(bob.account.handle, "lost in a broken session");
    const undecryptable = await waitFor(
      () => events.find((e) => e.type === "error" && e.code === "undecryptable" && e.from?.account_id === alice.account.account_id),
      "bob to report alice's undecryptable message",
    );
    expect(undecryptable).toBeDefined();

    // Bob answers: with no session left he starts a fresh one, and alice adopts it.
    await bob.send(alice.account.handle, "can you resend?");
    await waitFor(() => aliceEvents.find((e) => e.type === "message" && e.text === "can you resend?"), "alice to read bob's new session");
    await alice.send(bob.account.handle, "resent");
    await waitFor(() => events.find((e) => e.type === "message" && e.text === "resent"), "bob to read alice again");
    await Promise.all([alice.close(), bob.close(), mallory.close()]);
  }, 90_000);
});

describe("sending", () => {
  it("a send queued before a restart goes out after it, under the app's msg_id, announced by a sent event", async () => {
    const store = new MemoryKeyValueStore();
    let offline = false;
    const flaky = (input: string, init?: RequestInit) => (offline ? Promise.reject(new TypeError("network down")) : fetch(input, init));
    const alice = await Client.register({ server: serverUrl(), store, handle: handle("alice"), WebSocket: WS, fetch: flaky });
    const bob = await registered("bob");
    await expect(alice.send(bob.account.handle, "bad id", { msgId: "short" })).rejects.toThrow(/msgId/);

    const msgId = `app-${crypto.randomUUID()}`;
    const retrying = new Promise((resolve) => alice.on("outbox", resolve));
    await alice.resolve(bob.account.handle);
    offline = true;
    void alice.send(bob.account.handle, "written offline", { msgId }).catch(() => undefined);
    await retrying;
    await alice.close();
    expect((await alice.pending()).map((item) => item.msg_id)).toEqual([msgId]);

    // The app restarts: the new Client finds the send in the outbox and reports its ack.
    const restarted = await Client.open({ server: serverUrl(), store, WebSocket: WS });
    const sent: ClientEventOf<"sent">[] = [];
    restarted.on("sent", (e) => sent.push(e));
    await restarted.flushOutbox();
    expect(sent).toEqual([{ type: "sent", msg_id: msgId, chat_id: expect.stringMatching(/^d_/), chat_seq: 1, server_ts: expect.any(Number), to: bob.account.account_id }]);
    expect(await restarted.pending()).toEqual([]);

    const received = messagesOf(await receiveAll(bob));
    expect(received.map((m) => [m.msg_id, m.text])).toEqual([[msgId, "written offline"]]);
    await Promise.all([restarted.close(), bob.close()]);
  }, 60_000);
});

describe("presence", () => {
  it("shows a peer coming online and typing, through subscribePresence", async () => {
    const alice = await registered("alice");
    const bob = await registered("bob");
    const ack = await alice.send(bob.account.handle, "hi");
    const events: ClientEvent[] = [];
    bob.on("presence", (e) => events.push(e));
    bob.on("typing", (e) => events.push(e));
    await bob.subscribePresence(ack.chat_id);
    await waitFor(() => events.find((e) => e.type === "presence" && e.account_id === alice.account.account_id && e.online === false), "snapshot");

    alice.connect();
    await alice.drained();
    await waitFor(() => events.find((e) => e.type === "presence" && e.online === true), "alice online");
    await alice.setTyping(ack.chat_id, "typing");
    const typing = await waitFor(() => events.find((e) => e.type === "typing"), "typing");
    expect(typing).toEqual({ type: "typing", chat_id: ack.chat_id, from: { account_id: alice.account.account_id, device_id: 1 }, state: "typing" });

    alice.setAppState("background");
    await waitFor(() => events.find((e) => e.type === "presence" && e.online === false && e.last_seen !== null), "alice offline");
    await Promise.all([alice.close(), bob.close()]);
  }, 60_000);
});

describe("prekeys", () => {
  it("replenishes one-time prekeys when the server reports few left", async () => {
    const aliceStore = new MemoryKeyValueStore();
    const alice = await registered("alice", aliceStore);
    const bobStore = new MemoryKeyValueStore();
    const bob = await registered("bob", bobStore);
    const asAlice = await rawApi(aliceStore, alice.account.account_id);
    const asBob = await rawApi(bobStore, bob.account.account_id);
    expect(await asBob.prekeyCount()).toMatchObject({ one_time_prekeys: 100, pq_one_time_prekeys: 20 });

    // Someone fetches bundles until bob is nearly out of one-time keys of both kinds.
    for (let i = 0; i < 90; i++) await asAlice.bundle(bob.account.account_id);
    expect(await asBob.prekeyCount()).toMatchObject({ one_time_prekeys: 10, pq_one_time_prekeys: 0, pq_last_resort: true });

    bob.connect();
    await bob.drained();
    let counts = await asBob.prekeyCount();
    for (let i = 0; i < 100 && counts.one_time_prekeys < 100; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      counts = await asBob.prekeyCount();
    }
    expect(counts.one_time_prekeys).toBe(110);
    expect(counts.pq_one_time_prekeys).toBe(20);

    // The new keys are real: a new contact starts a session with one and bob decrypts.
    const carol = await registered("carol");
    const received: string[] = [];
    bob.on("message", (m) => received.push(m.text));
    await carol.send(bob.account.handle, "hello with a fresh prekey");
    await waitFor(() => (received.length > 0 ? received : undefined), "bob to receive");
    expect(received).toEqual(["hello with a fresh prekey"]);
    await Promise.all([alice.close(), bob.close(), carol.close()]);
  }, 90_000);
});

