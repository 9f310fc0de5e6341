/**
 * @module D1 tables (drizzle). The source of the checked-in migrations in migrations/
 * (`npm run db:generate`); append-only: change a table by adding a migration, never by editing one.
 * Public keys are stored as the base64 text clients send and receive, so reads need no re-encoding.
 * Times are Unix milliseconds.
 */
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const accounts = sqliteTable(
  "accounts",
  {
    id: text("id").primaryKey(),
    handle: text("handle").notNull(),
    createdAt: integer("created_at").notNull(),
    /** Set by a moderator (admin API): the account can neither send nor get device tokens. */
    suspendedAt: integer("suspended_at"),
  },
  (t) => [uniqueIndex("accounts_handle_unique").on(t.handle)],
);

/** One row per verification attempt started; the code itself is only stored hashed. */
export const verifications = sqliteTable(
  "verifications",
  {
    id: text("id").primaryKey(),
    handle: text("handle").notNull(),
    codeHash: text("code_hash").notNull(),
    attempts: integer("attempts").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    usedAt: integer("used_at"),
  },
  (t) => [index("verifications_handle_idx").on(t.handle, t.createdAt)],
);

/**
 * Devices keep a tombstone (`removed_at`) when removed so that device ids are never reused: a
 * stale token or session can then never address a different device under the same id.
 */
export const devices = sqliteTable(
  "devices",
  {
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    deviceId: integer("device_id").notNull(),
    name: text("name"),
    registrationId: integer("registration_id").notNull(),
    identityKey: text("identity_key").notNull(),
    signedPrekeyId: integer("signed_prekey_id").notNull(),
    signedPrekey: text("signed_prekey").notNull(),
    signedPrekeySignature: text("signed_prekey_signature").notNull(),
    pqLastResortId: integer("pq_last_resort_id"),
    pqLastResortKey: text("pq_last_resort_key"),
    pqLastResortSignature: text("pq_last_resort_signature"),
    createdAt: integer("created_at").notNull(),
    removedAt: integer("removed_at"),
    /** Why it was removed: by the primary's signed list, by itself (log out), or for inactivity. */
    removedReason: text("removed_reason", { enum: ["unlinked", "logged_out", "inactive"] }),
    /** Last token issued to the device (at most one write per hour): the inactivity sweep reads it. */
    lastActiveAt: integer("last_active_at"),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.deviceId] })],
);

/**
 * The account's current device list as its primary device signed it (multi-device, issue 10):
 * the encoded list and the Ed25519 signature, both base64 exactly as clients sent them. One row
 * per account and version; the primary key on (account, version) makes two concurrent changes
 * from the same version collide (the batch that loses rolls back). Older versions are deleted
 * when a newer one is stored. An account that never linked a device has no row.
 */
export const deviceLists = sqliteTable(
  "device_lists",
  {
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    version: integer("version").notNull(),
    list: text("list").notNull(),
    signature: text("signature").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.version] })],
);

export const oneTimePrekeys = sqliteTable(
  "one_time_prekeys",
  {
    accountId: text("account_id").notNull(),
    deviceId: integer("device_id").notNull(),
    keyId: integer("key_id").notNull(),
    publicKey: text("public_key").notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.deviceId, t.keyId] })],
);

export const pqPrekeys = sqliteTable(
  "pq_prekeys",
  {
    accountId: text("account_id").notNull(),
    deviceId: integer("device_id").notNull(),
    keyId: integer("key_id").notNull(),
    publicKey: text("public_key").notNull(),
    signature: text("signature").notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.deviceId, t.keyId] })],
);

/**
 * Who may see an account's last seen and online status (issue: presence). A missing row means the
 * defaults ("everyone" for both, as WhatsApp). Visibility is reciprocal: see src/presence/privacy.ts.
 */
export const privacySettings = sqliteTable("privacy_settings", {
  accountId: text("account_id")
    .primaryKey()
    .references(() => accounts.id, { onDelete: "cascade" }),
  lastSeen: text("last_seen", { enum: ["everyone", "contacts", "nobody"] }).notNull(),
  online: text("online", { enum: ["everyone", "contacts", "nobody"] }).notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/**
 * One push registration per device. `token` is the APNs device token, the FCM registration token,
 * or the Web Push endpoint URL; `p256dh`/`auth` are the Web Push subscription keys (base64url).
 * Deleted with the device (removeDevice) and when a provider says the token is gone.
 */
export const pushTokens = sqliteTable(
  "push_tokens",
  {
    accountId: text("account_id").notNull(),
    deviceId: integer("device_id").notNull(),
    platform: text("platform", { enum: ["apns", "fcm", "webpush"] }).notNull(),
    token: text("token").notNull(),
    apnsEnvironment: text("apns_environment", { enum: ["production", "sandbox"] }),
    p256dh: text("p256dh"),
    auth: text("auth"),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.deviceId] })],
);

/**
 * Encrypted media (issue 8). The server knows only sizes, owners and times: the bytes in R2 under
 * `media/<id>` are ciphertext whose key travels inside end-to-end messages. `size` is the declared
 * (ciphertext) size, enforced on upload and counted against the daily quota from slot creation on
 * (a pending upload counts until it is aborted or cleaned up). A pending row past `upload_expires_at` and a complete row past
 * `expires_at` are removed by the scheduled cleanup (src/media/cleanup.ts).
 */
export const media = sqliteTable(
  "media",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    deviceId: integer("device_id").notNull(),
    size: integer("size").notNull(),
    contentClass: text("content_class", { enum: ["image", "video", "audio", "document", "other"] }).notNull(),
    state: text("state", { enum: ["pending", "complete"] }).notNull(),
    mode: text("mode", { enum: ["single", "multipart"] }).notNull(),
    /** R2 multipart upload id (multipart mode only). */
    uploadId: text("upload_id"),
    partBytes: integer("part_bytes").notNull(),
    etag: text("etag"),
    createdAt: integer("created_at").notNull(),
    uploadExpiresAt: integer("upload_expires_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    completedAt: integer("completed_at"),
  },
  (t) => [
    index("media_account_created_idx").on(t.accountId, t.createdAt),
    index("media_state_expiry_idx").on(t.state, t.expiresAt),
    index("media_upload_expiry_idx").on(t.state, t.uploadExpiresAt),
  ],
);

/**
 * Parts of a multipart upload that R2 has accepted: the R2 binding cannot list the parts of an
 * upload, and completing needs every part's etag, so the Worker records them as they land. This
 * is what a resuming client asks for.
 */
export const mediaParts = sqliteTable(
  "media_parts",
  {
    mediaId: text("media_id")
      .notNull()
      .references(() => media.id, { onDelete: "cascade" }),
    partNumber: integer("part_number").notNull(),
    etag: text("etag").notNull(),
    size: integer("size").notNull(),
  },
  (t) => [primaryKey({ columns: [t.mediaId, t.partNumber] })],
);

/**
 * Which chats referenced a stored media id (a send that declared it in `media_ids`): members of
 * such a chat may download it with their device token, no capability needed. For a 1:1 chat the
 * two accounts are recorded (its id is a hash of them); a group's members are in group_members.
 * Removed with the media row.
 */
export const mediaRefs = sqliteTable(
  "media_refs",
  {
    mediaId: text("media_id")
      .notNull()
      .references(() => media.id, { onDelete: "cascade" }),
    chatId: text("chat_id").notNull(),
    /** The two accounts of a 1:1 chat; null for a group. */
    accountA: text("account_a"),
    accountB: text("account_b"),
    referencedAt: integer("referenced_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.mediaId, t.chatId] })],
);

/**
 * Blocks (issue 11): `blocker` no longer receives `blocked`'s messages, typing or presence, and is
 * not added to groups by it. The blocked account is never told. Read by the ChatRoom (cached with
 * its device lists) and the presence code; deleted with either account.
 */
export const blocks = sqliteTable(
  "blocks",
  {
    blocker: text("blocker").notNull(),
    blocked: text("blocked").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.blocker, t.blocked] }), index("blocks_blocked_idx").on(t.blocked)],
);

/**
 * A user's report of a message (issue 11). The server cannot read messages: it stores who reported
 * whom, where and when, plus the plaintext only if the reporter chose to attach it.
 */
export const reports = sqliteTable(
  "reports",
  {
    id: text("id").primaryKey(),
    reporter: text("reporter").notNull(),
    reportedAccount: text("reported_account").notNull(),
    chatId: text("chat_id").notNull(),
    msgId: text("msg_id").notNull(),
    /** The decrypted message, attached voluntarily by the reporter (null: not attached). */
    content: text("content"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("reports_created_idx").on(t.createdAt), index("reports_reported_idx").on(t.reportedAccount, t.createdAt), index("reports_reporter_idx").on(t.reporter)],
);

/**
 * Handles of deleted accounts, held back until `availableAt` (the cooling-off period) so that a
 * freshly deleted identity cannot be taken over by someone else at once. Holds no account id.
 */
export const handleReservations = sqliteTable("handle_reservations", {
  handle: text("handle").primaryKey(),
  availableAt: integer("available_at").notNull(),
});

/**
 * Groups (issue 6). D1 is the source of truth for membership and roles; the group's ChatRoom keeps
 * a snapshot and writes every change as an event into the chat's own sequence. `version` counts
 * membership and settings changes (the ChatRoom writes them, so replays are idempotent).
 * name/description/avatar_ref are what the server must show (invites, lists); clients that want
 * them private put ciphertext or send them inside group messages instead.
 */
export const groups = sqliteTable("groups", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  description: text("description"),
  avatarRef: text("avatar_ref"),
  /** Who may add members: "admins" (default) or every "members". Removing is always admins only. */
  whoCanAdd: text("who_can_add", { enum: ["admins", "members"] }).notNull(),
  createdBy: text("created_by").notNull(),
  createdAt: integer("created_at").notNull(),
  version: integer("version").notNull(),
});

/** Current members only: who was a member when lives in the chat's event sequence. */
export const groupMembers = sqliteTable(
  "group_members",
  {
    groupId: text("group_id")
      .notNull()
      .references(() => groups.id, { onDelete: "cascade" }),
    accountId: text("account_id").notNull(),
    role: text("role", { enum: ["admin", "member"] }).notNull(),
    joinedAt: integer("joined_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.groupId, t.accountId] }), index("group_members_account_idx").on(t.accountId)],
);
