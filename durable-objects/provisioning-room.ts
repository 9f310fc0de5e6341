/**
 * ProvisioningRoom: the mailbox that carries one provisioning message from an account's primary
 * device to a device being linked (issue 10). One object per QR code shown, named by its random
 * channel id. The new device opens it (storing only a hash of its receive secret), the primary
 * drops one encrypted envelope in, the new device picks it up with its secret. The object holds
 * ciphertext it cannot read (sealed to the new device's ephemeral key) and deletes everything by
 * alarm: at expiry, or shortly after the message was picked up (a lost response may be retried).
 * RPC only, no socket: the new device polls, which costs nothing between polls.
 */
import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import type { Env } from "../src/env";
import { ProvisioningEnvelope, type ProvisioningEnvelopeBody } from "../src/protocol/provisioning";

/** After pickup the message stays this long, for a retry of a response lost on the way. */
const KEEP_AFTER_PICKUP_MS = 60_000;

const OpenInput = z.object({ secretHash: z.string().regex(/^[0-9a-f]{64}$/), expiresAt: z.number().int().positive() });

export type DeliverResult = "delivered" | "gone" | "already_delivered";
export type ReceiveResult = { ok: true; envelope: ProvisioningEnvelopeBody | null } | { ok: false; reason: "gone" | "forbidden" };

interface Channel {
  secretHash: string;
  expiresAt: number;
  envelope: ProvisioningEnvelopeBody | null;
  pickedUp: boolean;
}

export class ProvisioningRoom extends DurableObject<Env> {
  private async channel(): Promise<Channel | null> {
    const channel = (await this.ctx.storage.get<Channel>("channel")) ?? null;
    // The alarm deletes it; until it has run, an expired channel is already gone for callers.
    return channel && channel.expiresAt > Date.now() ? channel : null;
  }

  /** Opens the channel; false if this id was already used (ids are random: a collision or a replay). */
  async open(raw: z.input<typeof OpenInput>): Promise<boolean> {
    const input = OpenInput.parse(raw);
    if (await this.ctx.storage.get("channel")) return false;
    await this.ctx.storage.put<Channel>("channel", { secretHash: input.secretHash, expiresAt: input.expiresAt, envelope: null, pickedUp: false });
    await this.ctx.storage.setAlarm(input.expiresAt);
    return true;
  }

  /** The primary's one message; a second one is refused (the first may already be in use). */
  async deliver(raw: ProvisioningEnvelopeBody): Promise<DeliverResult> {
    const envelope = ProvisioningEnvelope.parse(raw);
    const channel = await this.channel();
    if (!channel) return "gone";
    if (channel.envelope) return "already_delivered";
    await this.ctx.storage.put<Channel>("channel", { ...channel, envelope });
    return "delivered";
  }

  /** The message for the holder of the receive secret, or null while the primary has not answered. */
  async receive(secretHash: string): Promise<ReceiveResult> {
    const channel = await this.channel();
    if (!channel) return { ok: false, reason: "gone" };
    if (secretHash !== channel.secretHash) return { ok: false, reason: "forbidden" };
    if (channel.envelope && !channel.pickedUp) {
      const deleteAt = Math.min(channel.expiresAt, Date.now() + KEEP_AFTER_PICKUP_MS);
      await this.ctx.storage.put<Channel>("channel", { ...channel, pickedUp: true, expiresAt: deleteAt });
      await this.ctx.storage.setAlarm(deleteAt);
    }
    return { ok: true, envelope: channel.envelope };
  }

  /** Expiry or pickup: nothing of the channel outlives it. Idempotent (deleting nothing is fine). */
  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}
