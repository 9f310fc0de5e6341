/**
 * Many devices for end-to-end tests at scale (the 1,024-member group): accounts and primary
 * devices written straight into the running server's local D1 with the rows registration writes
 * (`wrangler d1 execute --local` on the server's state directory, as a developer seeds a local
 * database), and tokens minted with the secret the test gave the server. Registering 1,024 accounts
 * through the API costs minutes of verification round trips that such tests are not about; one
 * real identity key and signed prekey (valid signature) serve every seeded device.
 */
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { issueToken } from "../../../src/auth/tokens";
import { toBase64 } from "../../../src/protocol/encoding";
import { signedPrekeySignedBytes } from "../../../src/protocol/key-signatures";
import type { LocalServer } from "./server";

const root = join(import.meta.dirname, "..", "..", "..");

export interface SeededDevice {
  accountId: string;
  deviceId: number;
  registrationId: number;
  token: string;
}

/** SQL string literal (the values here are generated, but quote them properly anyway). */
const literal = (value: string | number) => (typeof value === "number" ? String(value) : `'${value.replaceAll("'", "''")}'`);

/**
 * `count` accounts with one primary device each in `server`'s local D1 (the server must have
 * started: its migrations are applied), with tokens minted from `tokenSecret`, which the server
 * must have been started with (`--var AUTH_TOKEN_SECRET:...`).
 */
export async function seedDevices(server: LocalServer, count: number, tokenSecret: string): Promise<SeededDevice[]> {
  const identitySecret = ed25519.utils.randomSecretKey();
  const identityKey = toBase64(ed25519.getPublicKey(identitySecret));
  const prekey = x25519.getPublicKey(x25519.utils.randomSecretKey());
  const prekeySignature = toBase64(ed25519.sign(signedPrekeySignedBytes(1, prekey), identitySecret));
  const run = randomBytes(3).toString("hex");
  const now = Date.now();
  const devices = await Promise.all(
    Array.from({ length: count }, async (_, i): Promise<SeededDevice> => {
      const accountId = randomUUID();
      const { token } = await issueToken(tokenSecret, { accountId, deviceId: 1 }, 3600, now);
      return { accountId, deviceId: 1, registrationId: 1 + (i % 0x3ffe), token };
    }),
  );
  const statements = devices.flatMap((d, i) => [
    `INSERT INTO accounts (id, handle, created_at) VALUES (${literal(d.accountId)}, ${literal(`seed${run}x${i}`)}, ${now});`,
    `INSERT INTO devices (account_id, device_id, registration_id, identity_key, signed_prekey_id, signed_prekey, signed_prekey_signature, created_at) VALUES (${[
      d.accountId,
      d.deviceId,
      d.registrationId,
      identityKey,
      1,
      toBase64(prekey),
      prekeySignature,
      now,
    ]
      .map(literal)
      .join(", ")});`,
  ]);
  const dir = await mkdtemp(join(tmpdir(), "parley-seed-"));
  try {
    const file = join(dir, "seed.sql");
    await writeFile(file, statements.join("\n"));
    await promisify(execFile)(
      join(root, "node_modules", ".bin", "wrangler"),
      ["d1", "execute", "DB", "--local", "--persist-to", server.stateDir, "--file", file, ...(server.configArgs())],
      { cwd: root, env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true" }, maxBuffer: 16 * 1024 * 1024 },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return devices;
}
