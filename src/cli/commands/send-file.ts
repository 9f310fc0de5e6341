/**
 * @module `parley send-file <handle> <path> [--mime TYPE] [--caption TEXT]`: encrypts the file while
 * uploading it (progress on stderr), then sends its key and digest in an end-to-end message.
 * Prints the same ack line as `send`, plus the media id: {"msg_id","chat_id","chat_seq","server_ts","media_id"}.
 */
import { openAsBlob } from "node:fs";
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { openClient, type CliContext } from "../context";
import { guessMime, progressPrinter } from "../files";
import { CliError, emit } from "../output";

const USAGE = "usage: parley send-file <handle> <path> [--mime TYPE] [--caption TEXT]";

export async function sendFile(ctx: CliContext, args: string[]): Promise<void> {
  const positional: string[] = [];
  let mime: string | undefined;
  let caption: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--mime" && args[i + 1]) mime = args[++i];
    else if (args[i] === "--caption" && args[i + 1] !== undefined) caption = args[++i];
    else positional.push(args[i]!);
  }
  const [to, path] = positional;
  if (!to || !path || positional.length !== 2) throw new CliError(USAGE, 2);
  const info = await stat(path).catch(() => null);
  if (!info?.isFile()) throw new CliError(`not a file: ${path}`);
  const client = await openClient(ctx);
  try {
    // A file-backed Blob, not a read stream: the SDK streams each part from it and can read a part again to retry.
    const { ack, file } = await client.sendFile(to, await openAsBlob(path), {
      mime: mime ?? guessMime(path),
      name: basename(path),
      ...(caption ? { caption } : {}),
      onProgress: progressPrinter(`uploading ${basename(path)}`),
    });
    emit({ msg_id: ack.msg_id, chat_id: ack.chat_id, chat_seq: ack.chat_seq, server_ts: ack.server_ts, media_id: file.media_id });
  } finally {
    await client.close();
  }
}
