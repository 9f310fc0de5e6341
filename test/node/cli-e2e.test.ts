/**
 * End to end through the real pieces: wrangler dev (local D1, Durable Objects, ...) started by the
 * test, and the `parley` CLI as a user runs it. Alice and Bob register, talk while the other is
 * offline, read receipts flow back, the server restarts mid-conversation, a send made while the
 * server is down goes out later, and no plaintext ever reaches the server's state directory.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parley } from "./support/cli";
import { findInFiles } from "./support/files";
import { serverForThisFile } from "./support/suite-server";

const texts: string[] = [];

const fixture = serverForThisFile("e2e");

describe("two people talking through the CLI", () => {
  const server = () => fixture.server();
  const workDir = () => fixture.workDir();
  const alice = () => join(workDir(), "alice");
  const bob = () => join(workDir(), "bob");
  const suffix = Math.floor(Math.random() * 1e6);
  const aliceHandle = `alice${suffix}`;
  const bobHandle = `bob${suffix}`;
  let chatId = "";

  it("registers both through the CLI", async () => {
    const a = await parley(server().url, alice(), "register", aliceHandle);
    expect(a.code, a.stderr).toBe(0);
    expect(a.lines).toEqual([{ account_id: expect.any(String), device_id: 1, handle: aliceHandle }]);
    const b = await parley(server().url, bob(), "register", bobHandle);
    expect(b.code, b.stderr).toBe(0);
    expect(b.lines[0]).toMatchObject({ device_id: 1, handle: bobHandle });
  });

  it("delivers 20 messages sent while bob is offline, in order, exactly once", async () => {
    const acks = [];
    for (let i = 1; i <= 20; i++) {
      const text = `message ${i} from alice, secret-${suffix}-${i}`;
      texts.push(text);
      const sent = await parley(server().url, alice(), "send", bobHandle, text);
      expect(sent.code, sent.stderr).toBe(0);
      expect(sent.lines).toEqual([{ msg_id: expect.any(String), chat_id: expect.stringMatching(/^d_/), chat_seq: i, server_ts: expect.any(Number) }]);
      acks.push(sent.lines[0]!);
    }
    chatId = acks[0]!.chat_id as string;

    const received = await parley(server().url, bob(), "recv", "--timeout", "1");
    expect(received.code, received.stderr).toBe(0);
    const messages = received.lines.filter((l) => l.type === "message");
    expect(messages.map((m) => m.text)).toEqual(texts);
    expect(messages.map((m) => m.chat_seq)).toEqual(acks.map((a) => a.chat_seq));
    expect(messages.map((m) => m.msg_id)).toEqual(acks.map((a) => a.msg_id));
    expect(messages.every((m) => m.from === aliceHandle && m.chat_id === chatId)).toBe(true);

    // Everything was ACKed: a second recv prints nothing again.
    const again = await parley(server().url, bob(), "recv", "--timeout", "1");
    expect(again.lines.filter((l) => l.type === "message")).toEqual([]);
  }, 180_000);

  it("carries bob's read receipt back to alice", async () => {
    const read = await parley(server().url, bob(), "read", chatId);
    expect(read.code, read.stderr).toBe(0);
    expect(read.lines).toEqual([{ chat_id: chatId, up_to_seq: 20 }]);

    const aliceView = await parley(server().url, alice(), "recv", "--timeout", "1");
    const receipts = aliceView.lines.filter((l) => l.type === "receipt");
    expect(receipts).toContainEqual(expect.objectContaining({ status: "read", chat_id: chatId, reader: bobHandle, up_to_seq: 20 }));
    expect(receipts).toContainEqual(expect.objectContaining({ status: "delivered", chat_id: chatId, reader: bobHandle, up_to_seq: 20 }));

    const chats = await parley(server().url, bob(), "chats");
    expect(chats.lines).toEqual([
      expect.objectContaining({ chat_id: chatId, peer: aliceHandle, last_seq: 20, unread: 0, last: expect.objectContaining({ text: texts[19] }) }),
    ]);
  }, 60_000);

  it("loses nothing across a server restart, including a send made while it was down", async () => {
    const before = `before restart ${suffix}`;
    texts.push(before);
    expect((await parley(server().url, bob(), "send", aliceHandle, before)).code).toBe(0);

    await server().stop();
    const whileDown = `while the server was down ${suffix}`;
    texts.push(whileDown);
    const failed = await parley(server().url, bob(), "send", aliceHandle, whileDown);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(/cannot reach|queued/);

    await server().start();
    const after = `after restart ${suffix}`;
    texts.push(after);
    // The queued message goes out first (the outbox keeps order), then the new one.
    const sent = await parley(server().url, bob(), "send", aliceHandle, after);
    expect(sent.code, sent.stderr).toBe(0);

    const aliceView = await parley(server().url, alice(), "recv", "--timeout", "1");
    const messages = aliceView.lines.filter((l) => l.type === "message");
    expect(messages.map((m) => m.text)).toEqual([before, whileDown, after]);
    expect(messages.map((m) => m.chat_seq)).toEqual([21, 22, 23]);
  }, 180_000);

  it("never stores plaintext in the server's state directory", async () => {
    await server().stop();
    // The texts, and the distinctive marker alone in case a text was split or re-encoded.
    const plaintext = await findInFiles(server().stateDir, [...texts, `secret-${suffix}`]);
    expect(plaintext.hits).toEqual([]);
    expect(plaintext.scanned).toBeGreaterThan(0);
    // The handles are stored (they are how people find each other); proves the scan reads real data.
    expect((await findInFiles(server().stateDir, [aliceHandle])).hits.length).toBeGreaterThan(0);
    await server().start();
  }, 120_000);
});
