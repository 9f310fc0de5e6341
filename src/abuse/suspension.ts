/**
 * @module Suspension checks outside the send path (issue 11). Sends are refused by the ChatRoom,
 * which reads suspension together with the device lists it already caches; routes that add
 * devices (device linking, issue 10) call `assertNotSuspended` before they register one.
 */
import { findAccount } from "../db/accounts";
import type { Db } from "../db/client";
import { ApiError } from "../errors";

export async function assertNotSuspended(db: Db, accountId: string): Promise<void> {
  const account = await findAccount(db, accountId);
  if (account?.suspendedAt != null) throw new ApiError("account_suspended", "this account is suspended");
}
