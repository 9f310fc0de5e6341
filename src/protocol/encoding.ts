/**
 * @module Byte encodings used at the JSON edge (HTTP bodies, socket frames, tokens).
 * Everything inside the server and the SDK works on Uint8Array; base64 exists only here and in the
 * zod schemas that call it. Portable: no Buffer, no atob/btoa quirks with binary strings.
 */

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_DECODE = (() => {
  const table = new Int16Array(128).fill(-1);
  for (let i = 0; i < B64.length; i++) table[B64.charCodeAt(i)] = i;
  table["-".charCodeAt(0)] = 62;
  table["_".charCodeAt(0)] = 63;
  return table;
})();

function encode(bytes: Uint8Array, alphabet: string, pad: boolean): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += alphabet[n >>> 18]! + alphabet[(n >>> 12) & 63]! + alphabet[(n >>> 6) & 63]! + alphabet[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += alphabet[n >>> 18]! + alphabet[(n >>> 12) & 63]! + (pad ? "==" : "");
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += alphabet[n >>> 18]! + alphabet[(n >>> 12) & 63]! + alphabet[(n >>> 6) & 63]! + (pad ? "=" : "");
  }
  return out;
}

/** Standard base64 with padding (RFC 4648 section 4): the JSON encoding of keys and ciphertext. */
export function toBase64(bytes: Uint8Array): string {
  return encode(bytes, B64, true);
}

/** base64url without padding (RFC 4648 section 5): tokens and URL path segments. */
export function toBase64Url(bytes: Uint8Array): string {
  return encode(bytes, B64.slice(0, 62) + "-_", false);
}

/**
 * Decodes standard base64 (padded) or base64url (unpadded). Returns null for anything else:
 * wrong characters, wrong length, non-zero trailing bits (so every byte string has exactly one
 * accepted encoding).
 */
export function fromBase64(text: string): Uint8Array | null {
  let end = text.length;
  if (end % 4 === 0 && end > 0) {
    if (text[end - 1] === "=") end--;
    if (text[end - 1] === "=") end--;
  }
  const body = end;
  if (body % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((body * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < body; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? B64_DECODE[c]! : -1;
    if (v < 0) return null;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) return null;
  return out;
}

const utf8Encoder = new TextEncoder();
export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return utf8Encoder.encode(text) as Uint8Array<ArrayBuffer>;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function u32be(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0, false);
  return out;
}

/** Constant-time comparison for secrets (MACs, code hashes). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

const HEX_BYTES = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** Lowercase hex: a table lookup per byte (storage names are built from ids on every message). */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX_BYTES[bytes[i]!]!;
  return out;
}
