/**
 * Presence and typing: online/offline with a bounded detection of silently dead sockets, last
 * seen, reciprocal privacy, typing only to members, expiry and coalescing, and no durable write
 * per heartbeat or typing event.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEAD_AFTER_MS, type DeviceInbox } from "../../durable-objects/device-inbox";
import { TYPING_TTL_MS, type PresenceRoom } from "../../durable-objects/presence-room";
import { call, register, type RegisteredDevice } from "../support/identity";
import { asRecipient, send } from "../support/messaging";
import { acquainted, goOnline, PresenceSocket } from "../support/presence";

const inboxOf = (d: RegisteredDevice) => env.DEVICE_INBOX.getByName(`${d.accountId}.${d.deviceId}`);

describe("online and last seen", () => {
  it("shows a member online on connect, and offline within the bound after the socket dies silently", async () => {
    const { alice, bob, chatId } = await acquainted();
    const view = await PresenceSocket.open(bob.token, chatId);
    await view.until(() => view.presence(alice.accountId).length === 1, "snapshot");
    expect(view.presence(alice.accountId)[0]).toMatchObject({ online: false, last_seen: null });

    const aliceSocket = await goOnline(alice);
    await view.until(() => view.presence(alice.accountId).some((p) => p.online === true), "alice online");
    expect((await call("GET", `/v1/presence/${alice.accountId}`, { token: bob.token })).body).toMatchObject({ online: true });

    // The connection dies without a close frame: no pings arrive any more. Age the last sign of life
    // past the bound (no auto-response ping timestamp exists, so the last frame time is what counts)
    // and let the liveness alarm run, as it would on its own LIVENESS_CHECK_MS later.
    await runInDurableObject(inboxOf(alice), (_instance: DeviceInbox, state) => {
      for (const ws of state.getWebSockets()) {
        const attachment = ws.deserializeAttachment() as { heard_at: number };
        ws.serializeAttachment({ ...attachment, heard_at: attachment.heard_at - DEAD_AFTER_MS - 1_000 });
      }
    });
    expect(await runDurableObjectAlarm(inboxOf(alice))).toBe(true);
    await view.until(() => view.presence(alice.accountId).some((p) => p.online === false && p.last_seen !== null), "alice offline");
    const offline = view.presence(alice.accountId).at(-1)!;
    expect(offline.last_seen! % 60_000).toBe(0);
    expect(Date.now() - offline.last_seen!).toBeLessThan(120_000);
    await aliceSocket.until(() => aliceSocket.closed !== null, "dead socket closed");
    expect(aliceSocket.closed!.code).toBe(4408);

    const lookup = await call("GET", `/v1/presence/${alice.accountId}`, { token: bob.token });
    expect(lookup.body).toEqual({ account_id: alice.accountId, online: false, last_seen: offline.last_seen });
    view.close();
  });

  it("goes offline at once when the app goes to the background", async () => {
    const { alice, bob, chatId } = await acquainted();
    const view = await PresenceSocket.open(bob.token, chatId);
    const aliceSocket = await goOnline(alice);
    await view.until(() => view.presence(alice.accountId).some((p) => p.online === true), "alice online");
    aliceSocket.sendFrame({ type: "app_state", state: "background" });
    await view.until(() => view.presence(alice.accountId).at(-1)?.online === false, "alice offline");
    aliceSocket.close();
    view.close();
  });
});

describe("privacy", () => {
  it("'nobody' hides last seen and online both ways", async () => {
    const { alice, bob, chatId } = await acquainted();
    await goOnline(alice);
    await goOnline(bob);
    await expect.poll(async () => (await call("GET", `/v1/presence/${alice.accountId}`, { token: bob.token })).body.online).toBe(true);

    const set = await call("PUT", "/v1/privacy", { token: alice.token, body: { last_seen: "nobody", online: "nobody" } });
    expect(set.body).toEqual({ last_seen: "nobody", online: "nobody" });
    expect((await call("GET", "/v1/privacy", { token: alice.token })).body).toEqual({ last_seen: "nobody", online: "nobody" });

    const bobSeesAlice = await call("GET", `/v1/presence/${alice.accountId}`, { token: bob.token });
    expect(bobSeesAlice.body).toEqual({ account_id: alice.accountId, online: null, last_seen: null });
    const aliceSeesBob = await call("GET", `/v1/presence/${bob.accountId}`, { token: alice.token });
    expect(aliceSeesBob.body).toEqual({ account_id: bob.accountId, online: null, last_seen: null });

    const view = await PresenceSocket.open(bob.token, chatId);
    await view.until(() => view.presence(alice.accountId).length === 1, "snapshot");
    expect(view.presence(alice.accountId)[0]).toMatchObject({ online: null, last_seen: null });
    view.close();
  });

  it("'contacts' shows status to people with a 1:1 chat only", async () => {
    const { alice, bob } = await acquainted();
    const stranger = await register();
    await goOnline(alice);
    await call("PUT", "/v1/privacy", { token: alice.token, body: { online: "contacts", last_seen: "contacts" } });
    await expect.poll(async () => (await call("GET", `/v1/presence/${alice.accountId}`, { token: bob.token })).body.online).toBe(true);
    expect((await call("GET", `/v1/presence/${alice.accountId}`, { token: stranger.token })).body.online).toBeNull();
  });
});

describe("typing", () => {
  it("reaches members viewing the chat, never a non-member", async () => {
    const { alice, bob, chatId } = await acquainted();
    const carol = await register();
    const refused = await PresenceSocket.connect(carol.token, chatId);
    expect(refused).toMatchObject({ status: 403, body: { error: { code: "forbidden" } } });

    // Carol has her own chat with bob; typing in alice<->bob never shows up there.
    const carolChat = (await send(carol, bob.accountId, [asRecipient(bob)])).body.chat_id as string;
    const carolView = await PresenceSocket.open(carol.token, carolChat);
    const bobView = await PresenceSocket.open(bob.token, chatId);
    const aliceView = await PresenceSocket.open(alice.token, chatId);
    aliceView.setTyping("typing");
    await bobView.until(() => bobView.typing().length === 1, "typing at bob");
    expect(bobView.typing()[0]).toEqual({ type: "typing", account_id: alice.accountId, device_id: 1, state: "typing" });
    expect(aliceView.typing()).toEqual([]); // not echoed to the typist
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(carolView.typing()).toEqual([]);
    for (const v of [carolView, bobView, aliceView]) v.close();
  });

  it("expires by itself without a stop event", async () => {
    const { alice, bob, chatId } = await acquainted();
    const bobView = await PresenceSocket.open(bob.token, chatId);
    const aliceView = await PresenceSocket.open(alice.token, chatId);
    aliceView.setTyping("recording");
    await bobView.until(() => bobView.typing().length === 1, "recording at bob");
    const started = Date.now();
    await bobView.until(() => bobView.typing().some((t) => t.state === "stopped"), "typing expiry", TYPING_TTL_MS + 5_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(TYPING_TTL_MS - 500);
    expect(bobView.typing().map((t) => t.state)).toEqual(["recording", "stopped"]);
    bobView.close();
    aliceView.close();
  });

  it("coalesces 100 events in a second into a few, without any durable write", async () => {
    const { alice, bob, chatId } = await acquainted();
    const aliceInbox = await goOnline(alice);
    const bobView = await PresenceSocket.open(bob.token, chatId);
    const aliceView = await PresenceSocket.open(alice.token, chatId);
    await bobView.until(() => bobView.presence(alice.accountId).some((p) => p.online === true), "alice online");

    const chatRoom = env.PRESENCE_ROOM.getByName(`c:${chatId}`);
    const accountRoom = env.PRESENCE_ROOM.getByName(`a:${alice.accountId}`);
    const writes = async () =>
      (await runInDurableObject(chatRoom, (r: PresenceRoom) => r.storageWrites)) + (await runInDurableObject(accountRoom, (r: PresenceRoom) => r.storageWrites));
    const before = await writes();

    for (let i = 0; i < 100; i++) {
      aliceView.setTyping("typing");
      aliceInbox.sendFrame("ping"); // heartbeats, answered by the runtime
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const seen = bobView.typing().filter((t) => t.account_id === alice.accountId);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen.length).toBeLessThanOrEqual(3);
    expect(await writes()).toBe(before);
    for (const s of [bobView, aliceView, aliceInbox]) s.close();
  });
});
