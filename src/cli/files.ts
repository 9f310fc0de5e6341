/**
 * @module File plumbing shared by send-file, download and recv --save-dir: a MIME guess from the
 * extension, a progress line on stderr, and saving a download atomically (a temporary file renamed
 * only after the whole file verified, so a tampered or truncated download leaves nothing behind).
 */
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { basename, extname } from "node:path";
import { once } from "node:events";
import { releaseBuffer } from "../client/release-buffer";

const MIME: Record<string, string> = {
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".png": "image/png",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".mp4": "video/mp4",
  ".mov": "video/quicktime",
  ".mp3": "audio/mpeg",
  ".ogg": "audio/ogg",
  ".m4a": "audio/mp4",
  ".pdf": "application/pdf",
  ".txt": "text/plain",
  ".json": "application/json",
  ".zip": "application/zip",
};

export function guessMime(path: string): string {
  return MIME[extname(path).toLowerCase()] ?? "application/octet-stream";
}

/** A file name from a peer, made safe to use inside a directory (no path, no hidden files). */
export function safeName(name: string | undefined, fallback: string): string {
  const base = basename(name ?? "").replace(/[^A-Za-z0-9._ -]/g, "_").replace(/^\.+/, "");
  return base.length > 0 ? base.slice(0, 200) : fallback;
}

/** Progress on stderr, at most every 250 ms, when stderr is a terminal or always when asked. */
export function progressPrinter(label: string): (sent: number, total: number) => void {
  let last = 0;
  return (sent, total) => {
    const now = Date.now();
    if (now - last < 250 && sent < total) return;
    last = now;
    const pct = total === 0 ? 100 : Math.floor((sent / total) * 100);
    const bar = "#".repeat(Math.floor(pct / 5)).padEnd(20, ".");
    process.stderr.write(`${label} [${bar}] ${pct}% ${(sent / 1048576).toFixed(1)}/${(total / 1048576).toFixed(1)} MiB\n`);
  };
}

/**
 * Writes a verified stream to `path`; nothing is left at `path` if the stream throws. The pieces
 * are handed over (the SDK's plaintext chunks, which nothing else holds): each is freed as soon as
 * the file has it (the write's callback: the stream is done with it), not at the next collection.
 */
export async function saveStream(source: AsyncIterable<Uint8Array>, path: string): Promise<number> {
  const temp = `${path}.part-${process.pid}`;
  const out = createWriteStream(temp);
  let bytes = 0;
  try {
    for await (const piece of source) {
      bytes += piece.length;
      if (!out.write(piece, () => releaseBuffer(piece))) await once(out, "drain");
    }
    out.end();
    await once(out, "finish");
    await rename(temp, path);
    return bytes;
  } catch (err) {
    out.destroy();
    await rm(temp, { force: true });
    throw err;
  }
}
