/**
 * @module The public surface of the client cryptography. Everything an app (or src/client's
 * Client facade) needs, nothing it should not touch: no primitives, no KDF internals.
 */
export { CryptoError, type CryptoErrorCode } from "./errors";
export * as limits from "./limits";
export { type Rng, systemRng, cryptoBackend, type Backend, type BackendName, useCryptoBackend, clearKeyCache } from "./primitives";
export { generateIdentity, generateOneTimePreKeys, generatePqPreKey, generateRegistrationId, generateSignedPreKey } from "./keys";
export { type PreKeyBundle, type InitiateOptions } from "./x3dh";
export {
  startSession,
  encryptMessage,
  decryptMessage,
  resetSession,
  sessionInfo,
  messageKind,
  type MessageKind,
  type SessionInfo,
  type DecryptOptions,
} from "./session";
export { senderKeyDistribution, rotateSenderKey, processSenderKeyDistribution, groupEncrypt, groupDecrypt } from "./group-cipher";
export { DISTRIBUTION_ID_BYTES } from "./sender-keys";
export {
  encryptMedia,
  decryptMedia,
  MediaEncryptStream,
  decryptMediaStream,
  planMediaRange,
  decryptMediaRange,
  parseMediaHeader,
  type EncryptedMedia,
  type MediaOptions,
  type MediaRangePlan,
  MEDIA_HEADER_BYTES,
} from "./media";
export { safetyNumber, compareScannable, type SafetyNumber, type FingerprintParty } from "./safety-number";
export {
  signDeviceList,
  verifyDeviceList,
  encodeDeviceList,
  decodeDeviceList,
  type DeviceList,
  type DeviceListEntry,
  type SignedDeviceList,
  type DeviceListTrust,
} from "./device-list";
export { ProtocolStore, type ProtocolAddress } from "../store/protocol-store";
export { MemoryKeyValueStore } from "../store/memory-store";
export type { KeyValueStore } from "../store/types";
