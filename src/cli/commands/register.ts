/**
 * @module `parley register <handle> [--jurisdiction eu]`: creates the account and this device (in a
 * data-residency jurisdiction if given). With the server's dev
 * sender the code is used automatically; otherwise it is read from PARLEY_VERIFICATION_CODE or
 * asked for on stderr and read from stdin.
 * Prints {"account_id","device_id","handle"}.
 */
import { createInterface } from "node:readline/promises";
import { Client } from "../../client/index";
import { clientOptions, type CliContext } from "../context";
import { CliError, emit, info } from "../output";
import { JURISDICTIONS, JurisdictionSchema, type Jurisdiction } from "../../protocol/jurisdiction";

async function askCode(handle: string): Promise<string> {
  const fromEnv = process.env.PARLEY_VERIFICATION_CODE;
  if (fromEnv) return fromEnv.trim();
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(`verification code sent to ${handle}: `)).trim();
  } finally {
    rl.close();
  }
}

export async function register(ctx: CliContext, args: string[]): Promise<void> {
  const usage = "usage: parley register <handle> [--jurisdiction eu]";
  const positional: string[] = [];
  let jurisdiction: Jurisdiction | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--jurisdiction") {
      const parsed = JurisdictionSchema.safeParse(args[++i]);
      if (!parsed.success) throw new CliError(`${usage} (jurisdictions: ${JURISDICTIONS.join(", ")})`, 2);
      jurisdiction = parsed.data;
    } else positional.push(args[i]!);
  }
  const [handle] = positional;
  if (!handle || positional.length > 1) throw new CliError(usage, 2);
  const client = await Client.register({ ...clientOptions(ctx), handle, jurisdiction, verificationCode: ({ handle: h }) => askCode(h) });
  info(`registered ${client.account.handle} (device ${client.account.device_id}); state in ${ctx.home}`);
  emit({ account_id: client.account.account_id, device_id: client.account.device_id, handle: client.account.handle });
  await client.close();
}
