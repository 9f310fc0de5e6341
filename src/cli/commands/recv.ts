/**
 * @module `parley recv [--timeout SECONDS] [--save-dir DIR]`: connects, prints one JSON line per event
 * (message, receipt, gap, group membership change, error, and typing/presence in the chats this device knows), ACKs what it
 * printed, and exits once the backlog is drained and SECONDS (default 2) pass with no new event.
 * File messages carry a `file` object; with --save-dir each file is downloaded, verified and saved
 * there (the line then has `saved`, or `save_error` if verification failed).
 */
import { join } from "node:path";
import { mkdir } from "node:fs/promises";
import type { Client, ClientEvent } from "../../client/index";
import { openClient, type CliContext } from "../context";
import { safeName, saveStream } from "../files";
import { CliError, emit, info } from "../output";

const MAX_WATCHED_CHATS = 20;

export async function recv(ctx: CliContext, args: string[]): Promise<void> {
  let timeoutSeconds = 2;
  let saveDir: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--timeout" && args[i + 1] !== undefined && /^\d+(\.\d+)?$/.test(args[i + 1]!)) timeoutSeconds = Number(args[++i]);
    else if (args[i] === "--save-dir" && args[i + 1]) saveDir = args[++i];
    else throw new CliError("usage: parley recv [--timeout SECONDS] [--save-dir DIR]", 2);
  }
  if (saveDir) await mkdir(saveDir, { recursive: true });
  const client = await openClient(ctx);
  let lastEvent = Date.now();
  let printing: Promise<void> = Promise.resolve();
  const print = (event: ClientEvent) => {
    lastEvent = Date.now();
    // Handles are looked up (and cached) in order, so lines keep the order of events.
    printing = printing.then(async () => {
      const line = await describe(client, event);
      if (saveDir && event.type === "message" && event.file && !event.outgoing) Object.assign(line, await save(client, event, saveDir));
      emit(line);
      lastEvent = Date.now();
    });
  };
  for (const type of ["message", "receipt", "gap", "group", "error", "typing", "presence"] as const) client.on(type, print);
  client.on("connection", (e) => info(`connection ${e.state}`));
  let terminated = false;
  client.on("error", (e) => {
    if (e.code === "terminated") terminated = true;
  });
  client.connect();
  await Promise.race([client.drained(), waitFor(() => terminated)]);
  // Typing and presence of the most recent chats while receiving (bounded: each is a socket). After
  // the backlog, so groups this device was removed from are known: their presence sockets are refused.
  const watched: string[] = [];
  for (const chat of await client.chats()) if (!chat.chat_id.startsWith("g_") || (await client.inGroup(chat.chat_id))) watched.push(chat.chat_id);
  if (!terminated) await Promise.all(watched.slice(0, MAX_WATCHED_CHATS).map((chatId) => client.subscribePresence(chatId)));
  lastEvent = Math.max(lastEvent, Date.now());
  await waitFor(() => terminated || Date.now() - lastEvent >= timeoutSeconds * 1000);
  // Downloads may still be running: they finish before the connection closes.
  await printing;
  await client.close();
  await printing;
  if (terminated) throw new CliError("the connection was terminated by the server");
}

async function save(client: Client, event: Extract<ClientEvent, { type: "message" }>, dir: string): Promise<Record<string, unknown>> {
  const file = event.file!;
  const path = join(dir, `${event.msg_id.slice(0, 8)}-${safeName(file.name, "file")}`);
  try {
    await saveStream(client.downloadFile(file), path);
    return { saved: path };
  } catch (err) {
    return { save_error: err instanceof Error ? err.message : String(err) };
  }
}

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 50));
}

async function describe(client: Client, event: ClientEvent): Promise<Record<string, unknown>> {
  switch (event.type) {
    case "message":
      return {
        type: "message",
        chat_id: event.chat_id,
        from: await client.handleOf(event.from.account_id),
        from_device: event.from.device_id,
        msg_id: event.msg_id,
        chat_seq: event.chat_seq,
        text: event.text,
        ...(event.file ? { file: { media_id: event.file.media_id, name: event.file.name ?? null, mime: event.file.mime, size: event.file.size, caption: event.text } } : {}),
        sent_at: event.sent_at,
        ...(event.outgoing ? { outgoing: true, to: await client.handleOf(event.peer) } : {}),
      };
    case "receipt":
      return {
        type: "receipt",
        status: event.status,
        chat_id: event.chat_id,
        reader: await client.handleOf(event.reader.account_id),
        up_to_seq: event.up_to_seq,
        msg_ids: event.msg_ids,
      };
    case "group":
      return { type: "group", chat_id: event.chat_id, chat_seq: event.chat_seq, actor: await client.handleOf(event.actor), event: event.event };
    case "gap":
      return { type: "gap", chat_id: event.chat_id, from: await client.handleOf(event.sender.account_id), count: event.count, reason: event.reason };
    case "typing":
      return { type: "typing", chat_id: event.chat_id, from: await client.handleOf(event.from.account_id), from_device: event.from.device_id, state: event.state };
    case "presence":
      return { type: "presence", account_id: event.account_id, handle: await client.handleOf(event.account_id), online: event.online, last_seen: event.last_seen };
    default:
      return { ...event };
  }
}
