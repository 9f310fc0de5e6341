/**
 * Looking at what the server left on disk (its wrangler dev state directory): every file below a
 * directory, for the tests that prove no plaintext reaches the server.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/**
 * Which of `needles` (UTF-8) occur in which file below `dir`, as "needle in path", and how many bytes
 * were read: a test asserts no hits for plaintext, and hits for something the server does store
 * (a handle) to prove the scan read real data.
 */
export async function findInFiles(dir: string, needles: string[]): Promise<{ hits: string[]; scanned: number }> {
  const hits: string[] = [];
  let scanned = 0;
  for (const file of await filesUnder(dir)) {
    const content = await readFile(file);
    scanned += content.length;
    for (const needle of needles) if (content.includes(Buffer.from(needle, "utf8"))) hits.push(`${needle} in ${file}`);
  }
  return { hits, scanned };
}
