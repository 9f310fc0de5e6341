/**
 * @module `parley download <msg_id> <path>`: fetches the file of a file message this device sent or
 * received, verifies and decrypts it while streaming, and writes it to PATH (only once verified).
 * Prints {"msg_id","path","bytes"}.
 */
import { openClient, type CliContext } from "../context";
import { progressPrinter, saveStream } from "../files";
import { CliError, emit } from "../output";

export async function download(ctx: CliContext, args: string[]): Promise<void> {
  const [msgId, path] = args;
  if (!msgId || !path || args.length !== 2) throw new CliError("usage: parley download <msg_id> <path>", 2);
  const client = await openClient(ctx);
  try {
    const file = await client.fileOf(msgId);
    if (!file) throw new CliError(`no file message ${msgId} on this device (run parley recv first)`);
    const progress = progressPrinter(`downloading ${file.name ?? msgId}`);
    let got = 0;
    async function* counted() {
      for await (const piece of client.downloadFile(file!)) {
        got += piece.length;
        progress(got, file!.size);
        yield piece;
      }
    }
    const bytes = await saveStream(counted(), path);
    emit({ msg_id: msgId, path, bytes });
  } finally {
    await client.close();
  }
}
