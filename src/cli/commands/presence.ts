/**
 * @module `parley presence <handle>`: one line {"account_id","handle","online","last_seen"}
 * (null where the account's or your privacy settings hide it).
 * `parley typing <handle> [typing|recording|stopped]`: shows your typing state in the 1:1 chat.
 * `parley privacy [--last-seen V] [--online V]` (V: everyone, contacts, nobody): prints the settings.
 */
import { directChatId } from "../../protocol/chat-ids";
import { openClient, type CliContext } from "../context";
import { CliError, emit } from "../output";

export async function presence(ctx: CliContext, args: string[]): Promise<void> {
  const [handle] = args;
  if (!handle || args.length > 1) throw new CliError("usage: parley presence <handle>", 2);
  const client = await openClient(ctx);
  try {
    const status = await client.presenceOf(handle);
    emit({ account_id: status.account_id, handle: await client.handleOf(status.account_id), online: status.online, last_seen: status.last_seen });
  } finally {
    await client.close();
  }
}

const TYPING_STATES = ["typing", "recording", "stopped"] as const;

export async function typing(ctx: CliContext, args: string[]): Promise<void> {
  const [handle, state = "typing"] = args;
  const typingState = TYPING_STATES.find((s) => s === state);
  if (!handle || !typingState || args.length > 2) throw new CliError("usage: parley typing <handle> [typing|recording|stopped]", 2);
  const client = await openClient(ctx);
  try {
    const chatId = await directChatId(client.account.account_id, await client.resolve(handle));
    await client.setTyping(chatId, typingState);
    // Let the frame leave before the socket closes.
    await new Promise((resolve) => setTimeout(resolve, 200));
    emit({ chat_id: chatId, state: typingState });
  } finally {
    await client.close();
  }
}

const VISIBILITY = ["everyone", "contacts", "nobody"] as const;

export async function privacy(ctx: CliContext, args: string[]): Promise<void> {
  const update: { last_seen?: (typeof VISIBILITY)[number]; online?: (typeof VISIBILITY)[number] } = {};
  for (let i = 0; i < args.length; i += 2) {
    const value = VISIBILITY.find((v) => v === args[i + 1]);
    if (args[i] === "--last-seen" && value) update.last_seen = value;
    else if (args[i] === "--online" && value) update.online = value;
    else throw new CliError("usage: parley privacy [--last-seen everyone|contacts|nobody] [--online everyone|contacts|nobody]", 2);
  }
  const client = await openClient(ctx);
  try {
    emit(Object.keys(update).length > 0 ? await client.setPrivacy(update) : await client.privacy());
  } finally {
    await client.close();
  }
}
