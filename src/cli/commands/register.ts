/**
 * @module `parley register <handle>`: creates the account and this device. With the server's dev
 * sender the code is used automatically; otherwise it is read from PARLEY_VERIFICATION_CODE or
 * asked for on stderr and read from stdin.
 * Prints {"account_id","device_id","handle"}.
 */
import { createInterface } from "node:readline/promises";
import { Client } from "../../client/index";
import { clientOptions, type CliContext } from "../context";
import { CliError, emit, info } from "../output";

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
  const [handle] = args;
  if (!handle || args.length > 1) throw new CliError("usage: parley register <handle>", 2);
  const client = await Client.register({ ...clientOptions(ctx), handle, verificationCode: ({ handle: h }) => askCode(h) });
  info(`registered ${client.account.handle} (device ${client.account.device_id}); state in ${ctx.home}`);
  emit({ account_id: client.account.account_id, device_id: client.account.device_id, handle: client.account.handle });
  await client.close();
}
