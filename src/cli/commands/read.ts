/**
 * @module `parley read <chat_id>`: sends a read receipt up to the newest message this device
 * received in the chat. Prints {"chat_id","up_to_seq"}.
 */
import { openClient, type CliContext } from "../context";
import { CliError, emit } from "../output";

export async function read(ctx: CliContext, args: string[]): Promise<void> {
  const [chatId] = args;
  if (!chatId || args.length > 1) throw new CliError("usage: parley read <chat_id>", 2);
  const client = await openClient(ctx);
  try {
    const upTo = await client.markRead(chatId);
    emit({ chat_id: chatId, up_to_seq: upTo });
  } finally {
    await client.close();
  }
}
