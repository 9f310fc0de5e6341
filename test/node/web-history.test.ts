/**
 * The web client's local history (web/src/history.ts): messages in chat order with unacked sends
 * last, ticks derived from the peer's receipt high-water marks, unread counts, concurrent updates
 * (events arriving while a send is recorded) never losing a write, and the per-chat cap; group
 * chats (members, senders, membership notices that never count as unread) beside records stored
 * before groups existed.
 */
import { describe, expect, it } from "vitest";
import { MemoryKeyValueStore } from "../../src/client/index";
import { lastLine } from "../../web/src/views/chat-list";
import { ChatHistory, type ChatRecord, MAX_MESSAGES_PER_CHAT, placeMessage, type StoredMessage, tickOf, unreadCount } from "../../web/src/history";

const peer = { account: "acc-bob", handle: "bob" };
const msg = (id: string, chat_seq: number | null, outgoing: boolean, extra: Partial<StoredMessage> = {}): StoredMessage => ({
  id,
  chat_seq,
  outgoing,
  text: id,
  at: 1,
  ...extra,
});

describe("web client history", () => {
  it("keeps chat order, unacked sends last, and moves a send into place once acked", async () => {
    const history = new ChatHistory(new MemoryKeyValueStore());
    await history.update("d_1", peer, (c) => {
      placeMessage(c, msg("mine", null, true));
      placeMessage(c, msg("theirs-2", 2, false));
      placeMessage(c, msg("theirs-1", 1, false));
    });
    expect((await history.chat("d_1"))!.messages.map((m) => m.id)).toEqual(["theirs-1", "theirs-2", "mine"]);
    // The server ordered our send before a message that reached us first.
    await history.update("d_1", peer, (c) => placeMessage(c, msg("theirs-4", 4, false)));
    await history.update("d_1", peer, (c) => placeMessage(c, { ...c.messages.find((m) => m.id === "mine")!, chat_seq: 3 }));
    expect((await history.chat("d_1"))!.messages.map((m) => m.id)).toEqual(["theirs-1", "theirs-2", "mine", "theirs-4"]);
  });

  it("derives ticks from receipts and counts unread", () => {
    const chat: ChatRecord = { chat_id: "d_1", peer_account: peer.account, peer_handle: "bob", messages: [], read_up_to: 1, peer_delivered_up_to: 3, peer_read_up_to: 2 };
    expect(tickOf(chat, msg("p", null, true))).toBe("pending");
    expect(tickOf(chat, msg("f", null, true, { failed: true }))).toBe("failed");
    expect(tickOf(chat, msg("r", 2, true))).toBe("read");
    expect(tickOf(chat, msg("d", 3, true))).toBe("delivered");
    expect(tickOf(chat, msg("s", 4, true))).toBe("sent");
    chat.messages = [msg("a", 1, false), msg("b", 2, false), msg("c", 3, true), msg("d", 4, false)];
    expect(unreadCount(chat)).toBe(2);
  });

  it("never loses one of many concurrent updates, and keeps at most the newest MAX_MESSAGES_PER_CHAT", async () => {
    const history = new ChatHistory(new MemoryKeyValueStore());
    await Promise.all(Array.from({ length: 30 }, (_, i) => history.update("d_2", peer, (c) => placeMessage(c, msg(`m${i}`, i + 1, false)))));
    expect((await history.chat("d_2"))!.messages).toHaveLength(30);
    expect(await history.chatIds()).toEqual(["d_2"]);

    await history.update("d_2", peer, (c) => {
      for (let i = 30; i < MAX_MESSAGES_PER_CHAT + 10; i++) placeMessage(c, msg(`m${i}`, i + 1, false));
    });
    const kept = (await history.chat("d_2"))!.messages;
    expect(kept).toHaveLength(MAX_MESSAGES_PER_CHAT);
    expect(kept[0]!.id).toBe("m10");
    expect(await history.updateExisting("d_unknown", () => {})).toBeUndefined();
  });

  it("keeps a group's members, each message's sender and membership notices (never unread); older records still read", async () => {
    const kv = new MemoryKeyValueStore();
    const history = new ChatHistory(kv);
    const group = { account: "g_0123456789abcdef0123456789abcdef", handle: "Weekend" };
    const alice = { account: "acc-alice", handle: "alice" };
    const chat = await history.update(group.account, group, (c) => {
      c.group = { name: "Weekend", members: [{ ...alice, role: "admin" }, { account: "acc-me", handle: "me", role: "member" }], left: false };
      placeMessage(c, msg("group-event-1", 1, false, { text: "Alice created the group “Weekend”", notice: true }));
      placeMessage(c, msg("hello", 2, false, { text: "hello all", from: alice }));
    });
    expect(unreadCount(chat)).toBe(1);
    expect(lastLine(chat)).toBe("alice: hello all");
    await history.update(group.account, group, (c) => {
      c.group!.left = true;
      placeMessage(c, msg("group-event-3", 3, false, { text: "Alice removed you", notice: true }));
    });
    const stored = (await history.chat(group.account))!;
    expect(stored.group).toEqual({ name: "Weekend", members: [{ ...alice, role: "admin" }, { account: "acc-me", handle: "me", role: "member" }], left: true });
    expect(lastLine(stored)).toBe("Alice removed you");
    expect(unreadCount(stored)).toBe(1);

    // A 1:1 record written before groups existed (no group, no sender fields) reads as it was.
    const old = { chat_id: "d_old", peer_account: "acc-bob", peer_handle: "bob", messages: [{ id: "m1", chat_seq: 1, outgoing: false, text: "hi", at: 1 }], read_up_to: 0, peer_delivered_up_to: 0, peer_read_up_to: 0 };
    await kv.put("web/chat/d_old", new TextEncoder().encode(JSON.stringify(old)));
    expect(await history.chat("d_old")).toEqual(old);
  });
});
