/**
 * @module `parley devices` and `parley unlink <device_id>` (issue 10).
 *
 * - devices: one line per active device, {"device_id","name","created_at","primary","this_device"},
 *   then one per device removed in the last 30 days, {"device_id","name","removed_at","reason"}
 *   (reason: unlinked, logged_out or inactive).
 * - unlink: on the primary, signs a device list without the device (it is logged out at once);
 *   on a linked device, only its own id: logs it out. Prints {"unlinked": device_id}.
 */
import { openClient, type CliContext } from "../context";
import { CliError, emit } from "../output";

export async function devices(ctx: CliContext, args: string[]): Promise<void> {
  if (args.length > 0) throw new CliError("usage: parley devices", 2);
  const client = await openClient(ctx);
  try {
    const mine = await client.devices();
    for (const d of mine.devices) {
      emit({ device_id: d.device_id, name: d.name, created_at: d.created_at, primary: d.device_id === 1, this_device: d.device_id === client.account.device_id });
    }
    for (const d of mine.removed_devices ?? []) emit({ device_id: d.device_id, name: d.name, removed_at: d.removed_at, reason: d.reason });
  } finally {
    await client.close();
  }
}

export async function unlink(ctx: CliContext, args: string[]): Promise<void> {
  const [id] = args;
  if (!id || args.length > 1 || !/^[1-9][0-9]*$/.test(id)) throw new CliError("usage: parley unlink <device_id>", 2);
  const client = await openClient(ctx);
  try {
    await client.unlink(Number(id));
    emit({ unlinked: Number(id) });
  } finally {
    await client.close();
  }
}
