/**
 * @module The public surface of the Parley client SDK: the Client facade, its events and errors,
 * the storage interface with its in-memory implementation, and the cryptography for apps that
 * need it directly (safety numbers, media). The IndexedDB store is for browsers. Node-only pieces (the file store) are imported from
 * their own module so browser bundles never see a Node built-in.
 */
export {
  type AccountDevices,
  Client,
  type ClientOptions,
  type LinkedDevice,
  type LinkOptions,
  type PendingLink,
  type RegisterOptions,
  type SendOptions,
} from "./client";
export type { ClientEvent, ClientEventOf, ClientEventType, DeviceRef } from "./events";
export { ParleyApiError, TransportError } from "./errors";
export type { WebSocketConstructor, WebSocketLike } from "./socket";
export type { FetchLike } from "./api";
export type { FileAttachment } from "./payload";
export type { FileSource, UploadOptions } from "./media-upload";
export type { ChatSummary, HistoryMessage, OutboxItem, PendingUpload } from "./store/client-store";
export type { KeyValueStore } from "./store/types";
export { MemoryKeyValueStore } from "./store/memory-store";
export { IndexedDbKeyValueStore } from "./store/indexeddb-store";
export { CryptoError, safetyNumber, type SafetyNumber } from "./crypto/index";
export { directChatId, isGroupChat } from "../protocol/chat-ids";
export type { GroupInfoBody } from "../protocol/groups";
/** The account's first device: the one that signs the device list, links and unlinks the others. */
export { PRIMARY_DEVICE_ID } from "./crypto/device-list";
