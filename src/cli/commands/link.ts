/**
 * @module Device linking from the command line (issue 10).
 *
 * - `parley link [--name NAME]` on the new device: prints {"link_payload"} on stdout and the same
 *   payload as an ASCII QR code on stderr, waits until the primary approves, then prints
 *   {"account_id","device_id","handle","history_messages"}.
 * - `parley link-approve <payload> [--history N]` on the primary: signs the new device into the
 *   account's device list (sending the last N messages of each chat along, encrypted) and waits
 *   until the device has activated itself; prints {"account_id","device_id"}.
 */
import encodeQR from "qr";
import { Client } from "../../client/index";
import { clientOptions, openClient, type CliContext } from "../context";
import { CliError, emit, info } from "../output";

export async function link(ctx: CliContext, args: string[]): Promise<void> {
  let name: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--name" && args[i + 1]) name = args[++i];
    else throw new CliError("usage: parley link [--name NAME]", 2);
  }
  const pending = await Client.startLink({ ...clientOptions(ctx), ...(name ? { deviceName: name } : {}) });
  emit({ link_payload: pending.payload });
  info(encodeQR(pending.payload, "ascii"));
  info(`scan this with your primary device, or run there: parley link-approve '${pending.payload}'`);
  info(`waiting for approval until ${new Date(pending.expiresAt).toISOString()} ...`);
  const linked = await pending.complete();
  const { account } = linked.client;
  if (linked.historyError) info(`linked, but the history could not be imported: ${linked.historyError}`);
  info(`linked as device ${account.device_id} of ${account.handle}; state in ${ctx.home}`);
  emit({ account_id: account.account_id, device_id: account.device_id, handle: account.handle, history_messages: linked.history?.messages ?? 0 });
  await linked.client.close();
}

export async function linkApprove(ctx: CliContext, args: string[]): Promise<void> {
  const [payload, ...rest] = args;
  let history = 0;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--history" && /^[0-9]+$/.test(rest[i + 1] ?? "")) history = Number(rest[++i]);
    else throw new CliError("usage: parley link-approve <payload> [--history N]", 2);
  }
  if (!payload) throw new CliError("usage: parley link-approve <payload> [--history N]", 2);
  const client = await openClient(ctx);
  try {
    info("approving; waiting for the new device to activate itself ...");
    const { device_id } = await client.approveLink(payload, { historyMessages: history });
    info(`device ${device_id} linked`);
    emit({ account_id: client.account.account_id, device_id });
  } finally {
    await client.close();
  }
}
