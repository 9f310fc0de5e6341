/**
 * @module `parley chats`: one line per chat this device has seen, newest first:
 * {"chat_id","peer","last_seq","unread","last":{"from","text","chat_seq","at"}|null}.
 */
import { openClient, type CliContext } from "../context";
import { CliError, emit } from "../output";

export async function chats(ctx: CliContext, args: string[]): Promise<void> {
  if (args.length > 0) throw new CliError("usage: parley chats", 2);
  const client = await openClient(ctx);
  try {
    for (const chat of await client.chats()) {
      emit({
        chat_id: chat.chat_id,
        peer: await client.handleOf(chat.peer_account),
        last_seq: chat.last_seq,
        unread: chat.unread,
        last: chat.last
          ? { from: await client.handleOf(chat.last.from_account), text: chat.last.text, chat_seq: chat.last.chat_seq, at: chat.last.at }
          : null,
      });
    }
  } finally {
    await client.close();
  }
}
