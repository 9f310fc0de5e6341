/**
 * @module The byte codec every stored record uses: big-endian integers, fixed-size and
 * length-prefixed byte strings. Records (session-record.ts, prekey-records.ts, sender-key-record.ts)
 * describe their own layout with it; nothing here knows what a record is.
 */
import { CryptoError } from "../crypto/errors";

export class ByteWriter {
  private buf = new Uint8Array(256);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  u8(v: number): this {
    this.reserve(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  u32(v: number): this {
    this.reserve(4);
    // Byte arithmetic, not a DataView per call: records are encoded on every message.
    const b = this.buf;
    b[this.len] = v >>> 24;
    b[this.len + 1] = v >>> 16;
    b[this.len + 2] = v >>> 8;
    b[this.len + 3] = v;
    this.len += 4;
    return this;
  }

  /** Integers up to 2^53 (timestamps, versions) as 8 bytes. */
  u64(v: number): this {
    return this.u32(Math.floor(v / 0x1_0000_0000)).u32(v % 0x1_0000_0000);
  }

  fixed(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
    return this;
  }

  /** u32 length prefix then the bytes. */
  bytes(bytes: Uint8Array): this {
    return this.u32(bytes.length).fixed(bytes);
  }

  optional<T>(value: T | null, write: (v: T) => void): this {
    this.u8(value === null ? 0 : 1);
    if (value !== null) write(value);
    return this;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

export class ByteReader {
  private pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new CryptoError("MALFORMED", `${this.what}: truncated`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u32(): number {
    this.need(4);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }

  u64(): number {
    const hi = this.u32();
    const lo = this.u32();
    if (hi > 0x1f_ffff) throw new CryptoError("MALFORMED", `${this.what}: integer beyond 2^53`);
    return hi * 0x1_0000_0000 + lo;
  }

  fixed(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  bytes(max = 1 << 24): Uint8Array {
    const n = this.u32();
    if (n > max) throw new CryptoError("MALFORMED", `${this.what}: field longer than ${max}`);
    return this.fixed(n);
  }

  optional<T>(read: () => T): T | null {
    const flag = this.u8();
    if (flag > 1) throw new CryptoError("MALFORMED", `${this.what}: bad presence flag`);
    return flag === 1 ? read() : null;
  }

  rest(): Uint8Array {
    const out = this.buf.slice(this.pos);
    this.pos = this.buf.length;
    return out;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  end(): void {
    if (this.pos !== this.buf.length) throw new CryptoError("MALFORMED", `${this.what}: trailing bytes`);
  }
}

/** Reads a record that starts with a version byte, refusing versions it does not know. */
export function versioned(bytes: Uint8Array, version: number, what: string): ByteReader {
  const r = new ByteReader(bytes, what);
  const v = r.u8();
  if (v !== version) throw new CryptoError("UNSUPPORTED_VERSION", `${what}: version ${v}, expected ${version}`);
  return r;
}
