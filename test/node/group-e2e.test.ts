/**
 * Groups end to end: wrangler dev started by the test, three people with the `parley` CLI. Alice
 * creates a group with Bob and Carol, everyone talks, Alice removes Carol; Alice and Bob keep
 * talking, Carol receives nothing new, and the ciphertext of the new messages (captured on the
 * wire from Alice's device) does not open with the sender keys Carol kept.
 */
import { join } from "node:path";
import WebSocket from "ws";
import { describe, expect, it } from "vitest";
import { Client, CryptoError, type WebSocketConstructor } from "../../src/client/index";
import { groupDecrypt } from "../../src/client/crypto/group-cipher";
import { FileKeyValueStore } from "../../src/client/store/file-store";
import { ProtocolStore } from "../../src/client/store/protocol-store";
import { fromBase64 } from "../../src/protocol/encoding";
import { parley } from "./support/cli";
import { serverForThisFile } from "./support/suite-server";

const fixture = serverForThisFile("group-e2e");

describe("a group through the CLI, with a removal", () => {
  const server = () => fixture.server();
  const home = (name: string) => join(fixture.workDir(), name);
  const suffix = Math.floor(Math.random() * 1e6);
  const handles = { alice: `alice${suffix}`, bob: `bob${suffix}`, carol: `carol${suffix}` };
  const ids: Record<string, string> = {};
  let chatId = "";

  const cli = async (who: keyof typeof handles, ...args: string[]) => {
    const result = await parley(server().url, home(who), ...args);
    expect(result.code, `${who} ${args.join(" ")}: ${result.stderr}`).toBe(0);
    return result.lines;
  };
  const messages = (lines: Record<string, unknown>[]) => lines.filter((l) => l.type === "message");

  it("creates the group and everyone receives the first message", async () => {
    for (const who of ["alice", "bob", "carol"] as const) ids[who] = (await cli(who, "register", handles[who]))[0]!.account_id as string;
    const created = await cli("alice", "group", "create", "friends", handles.bob, handles.carol);
    expect(created).toEqual([{ chat_id: expect.stringMatching(/^g_[0-9a-f]{32}$/) }]);
    chatId = created[0]!.chat_id as string;

    const sent = await cli("alice", "group", "send", chatId, "hello both");
    expect(sent).toEqual([{ msg_id: expect.any(String), chat_id: chatId, chat_seq: 2, server_ts: expect.any(Number) }]);

    for (const who of ["bob", "carol"] as const) {
      const lines = await cli(who, "recv", "--timeout", "1");
      expect(lines.filter((l) => l.type === "group")).toEqual([
        expect.objectContaining({ chat_id: chatId, chat_seq: 1, actor: handles.alice, event: expect.objectContaining({ type: "created" }) }),
      ]);
      expect(messages(lines)).toEqual([expect.objectContaining({ chat_id: chatId, chat_seq: 2, from: handles.alice, text: "hello both" })]);
    }
    const reply = await cli("carol", "group", "send", chatId, "hi from carol");
    expect(reply[0]).toMatchObject({ chat_id: chatId, chat_seq: 3 });
    for (const who of ["alice", "bob"] as const) {
      expect(messages(await cli(who, "recv", "--timeout", "1"))).toEqual([expect.objectContaining({ from: handles.carol, text: "hi from carol" })]);
    }

    const info = await cli("bob", "group", "info", chatId);
    expect(info[0]).toMatchObject({ chat_id: chatId, name: "friends", version: 1 });
    expect(info[0]!.members).toEqual(
      expect.arrayContaining([
        { handle: handles.alice, role: "admin" },
        { handle: handles.bob, role: "member" },
        { handle: handles.carol, role: "member" },
      ]),
    );
  }, 180_000);

  it("after carol is removed, alice and bob keep talking and carol gets nothing new, nor can she decrypt it", async () => {
    expect(await cli("alice", "group", "remove", chatId, handles.carol)).toEqual([{ chat_id: chatId, version: 2, members: 2 }]);
    // Bob refuses nothing: a member who is not an admin cannot remove.
    const refused = await parley(server().url, home("bob"), "group", "remove", chatId, handles.alice);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("403 forbidden");

    const bobSees = await cli("bob", "recv", "--timeout", "1");
    expect(bobSees.filter((l) => l.type === "group")).toEqual([expect.objectContaining({ event: { type: "member_removed", account_id: ids.carol } })]);
    expect((await cli("bob", "group", "send", chatId, "just us now"))[0]).toMatchObject({ chat_id: chatId, chat_seq: 5 });

    // Alice's next message goes through the SDK on her own device state, recording what goes on the wire.
    const wire: { content: string }[] = [];
    const alice = await Client.open({
      server: server().url,
      store: new FileKeyValueStore(join(home("alice"), "store")),
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      fetch: async (input, init) => {
        if (typeof input === "string" && input.endsWith(`/v1/groups/${chatId}/messages`) && init?.method === "POST") wire.push(JSON.parse(String(init.body)));
        return fetch(input, init);
      },
    });
    const aliceReceived: string[] = [];
    alice.on("message", (m) => aliceReceived.push(`${m.chat_seq}:${m.text}`));
    alice.connect();
    await alice.drained(); // the removal event (alice rotates her sender key) and bob's message
    expect(aliceReceived).toEqual(["5:just us now"]);
    const ack = await alice.sendGroup(chatId, "carol must not read this");
    expect(ack.chat_seq).toBe(6);
    await alice.close();
    expect(wire.length).toBeGreaterThan(0);

    const bobLines = await cli("bob", "recv", "--timeout", "1");
    expect(messages(bobLines)).toEqual([expect.objectContaining({ from: handles.alice, text: "carol must not read this", chat_seq: 6 })]);

    // Carol: the removal event, then nothing.
    const carolLines = await cli("carol", "recv", "--timeout", "1");
    expect(carolLines.filter((l) => l.type === "group")).toEqual([expect.objectContaining({ chat_seq: 4, event: { type: "member_removed", account_id: ids.carol } })]);
    expect(messages(carolLines)).toEqual([]);
    const carolSend = await parley(server().url, home("carol"), "group", "send", chatId, "let me back in");
    expect(carolSend.code).toBe(1);
    expect(carolSend.stderr).toContain("403 forbidden");

    // Carol still has the sender keys she was given while a member; the new traffic does not open with them.
    const carolKeys = new ProtocolStore(new FileKeyValueStore(join(home("carol"), "store")));
    for (const body of wire) {
      const error = await groupDecrypt(carolKeys, { accountId: ids.alice!, deviceId: 1 }, fromBase64(body.content)!).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CryptoError);
      expect((error as CryptoError).code).toBe("NO_SENDER_KEY");
    }
  }, 180_000);
});
