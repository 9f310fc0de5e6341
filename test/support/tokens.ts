/**
 * Bearer tokens minted directly with src/auth/tokens.ts under the test pool's AUTH_TOKEN_SECRET
 * (vitest.config.ts), for cases the API cannot produce on demand: expired, future-dated, or
 * signed with another secret.
 */
import { env } from "cloudflare:workers";
import { issueToken, type DevicePrincipal } from "../../src/auth/tokens";

export function testSecret(): string {
  const secret = env.AUTH_TOKEN_SECRET;
  if (!secret) throw new Error("the workers test pool must bind AUTH_TOKEN_SECRET");
  return secret;
}

export async function mintToken(
  principal: DevicePrincipal,
  opts: { issuedAt: number; ttlSeconds?: number; secret?: string },
): Promise<string> {
  const issued = await issueToken(opts.secret ?? testSecret(), principal, opts.ttlSeconds ?? 600, opts.issuedAt);
  return issued.token;
}
