/**
 * @module `parley history <chat_id>`: the chat's recent messages this device holds (received,
 * sent, or imported from the primary when it was linked), oldest first, one line each:
 * {"chat_id","msg_id","chat_seq","from","from_device","text","at","outgoing"}.
 */
import { openClient, type CliContext } from "../context";
import { CliError, emit } from "../output";

export async function history(ctx: CliContext, args: string[]): Promise<void> {
  const [chatId] = args;
  if (!chatId || args.length > 1) throw new CliError("usage: parley history <chat_id>", 2);
  const client = await openClient(ctx);
  try {
    for (const m of await client.history(chatId)) {
      emit({
        chat_id: chatId,
        msg_id: m.msg_id,
        chat_seq: m.chat_seq,
        from: await client.handleOf(m.from_account),
        from_device: m.from_device,
        text: m.text,
        at: m.at,
        outgoing: m.outgoing,
      });
    }
  } finally {
    await client.close();
  }
}
