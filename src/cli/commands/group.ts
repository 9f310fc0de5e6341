/**
 * @module `parley group ...`: groups from the command line.
 *   group create <name> <handle>...      prints {"chat_id"}
 *   group add|remove <chat_id> <handle>  prints {"chat_id","version","members"}
 *   group send <chat_id> <text>          prints the same ack line as `send`
 *   group info <chat_id>                 prints {"chat_id","name","version","members":[{"handle","role"}]}
 *   group leave <chat_id>                prints {"chat_id","left":true}
 * Group messages and membership events show up in `parley recv` with the group's chat_id.
 */
import { openClient, type CliContext } from "../context";
import { CliError, emit } from "../output";
import { emitAck, waitForAck } from "./send";

const USAGE = "usage: parley group create <name> <handle>... | add|remove <chat_id> <handle> | send <chat_id> <text> | info <chat_id> | leave <chat_id>";
const GROUP_ID = /^g_[0-9a-f]{32}$/;

export async function group(ctx: CliContext, args: string[]): Promise<void> {
  const [sub, first, ...rest] = args;
  if (!sub || !first) throw new CliError(USAGE, 2);
  if (sub !== "create" && !GROUP_ID.test(first)) throw new CliError(`not a group chat id: ${first}\n${USAGE}`, 2);
  const client = await openClient(ctx);
  try {
    switch (sub) {
      case "create": {
        const info = await client.createGroup(first, rest);
        emit({ chat_id: info.chat_id });
        return;
      }
      case "add":
      case "remove": {
        if (rest.length !== 1) throw new CliError(USAGE, 2);
        const info = sub === "add" ? await client.addToGroup(first, rest) : await client.removeFromGroup(first, rest[0]!);
        emit({ chat_id: info.chat_id, version: info.version, members: info.members.length });
        return;
      }
      case "send": {
        if (rest.length === 0) throw new CliError(USAGE, 2);
        emitAck(await waitForAck(client, client.sendGroup(first, rest.join(" "))));
        return;
      }
      case "info": {
        const info = await client.groupInfo(first);
        const members = [];
        for (const m of info.members) members.push({ handle: await client.handleOf(m.account_id), role: m.role });
        emit({ chat_id: info.chat_id, name: info.name, version: info.version, who_can_add: info.who_can_add, members });
        return;
      }
      case "leave": {
        await client.leaveGroup(first);
        emit({ chat_id: first, left: true });
        return;
      }
      default:
        throw new CliError(USAGE, 2);
    }
  } finally {
    await client.close();
  }
}
