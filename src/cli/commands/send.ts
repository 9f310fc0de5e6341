/**
 * @module `parley send <handle> <text>`: encrypts for every device of the recipient (and this
 * account's other devices) and waits for the server's ack. Prints {"msg_id","chat_id","chat_seq","server_ts"}.
 * If the server cannot be reached the message stays in the outbox and goes out on the next run.
 */
import type { Client } from "../../client/index";
import type { SendAckBody } from "../../protocol/messages";
import { openClient, type CliContext } from "../context";
import { CliError, emit } from "../output";

const ACK_TIMEOUT_MS = 30_000;

export async function send(ctx: CliContext, args: string[]): Promise<void> {
  const [to, ...words] = args;
  const text = words.join(" ");
  if (!to || words.length === 0) throw new CliError("usage: parley send <handle> <text>", 2);
  const client = await openClient(ctx);
  try {
    emitAck(await waitForAck(client, client.send(to, text)));
  } finally {
    await client.close();
  }
}

/** Waits for a send's ack; a message not acked in time stays queued and the command fails. */
export async function waitForAck(client: Client, sending: Promise<SendAckBody>): Promise<SendAckBody> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopListening = () => {};
  const queued = new Promise<never>((_, reject) => {
    const fail = (why: string) => reject(new CliError(`${why}; the message stays queued and is sent on the next run`));
    timer = setTimeout(() => fail("no ack from the server yet"), ACK_TIMEOUT_MS);
    stopListening = client.on("outbox", (e) => fail(e.message));
  });
  return Promise.race([sending, queued]).finally(() => {
    clearTimeout(timer);
    stopListening();
  });
}

/** The ack line of `send` and `group send`. */
export function emitAck(ack: SendAckBody): void {
  emit({ msg_id: ack.msg_id, chat_id: ack.chat_id, chat_seq: ack.chat_seq, server_ts: ack.server_ts });
}
