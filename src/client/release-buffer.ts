/**
 * @module Giving a dead buffer's memory back now instead of at the next garbage collection. Media
 * streaming makes a fresh ArrayBuffer for every chunk it reads, seals or opens, and V8 frees dead
 * ArrayBuffers only when it collects, letting ~32 MiB of them pile up first: a 64 MiB transfer
 * then peaks at several times the few chunks it really holds. A detached ArrayBuffer's memory is
 * freed at once, and there are two ways to detach one without copying it:
 * `ArrayBuffer.prototype.transfer(0)` (ES2024: Node 22+, current browsers), and, in older Node,
 * posting it in the transfer list of a closed MessagePort (the message is serialized, which
 * detaches, then dropped). worker_threads comes through `process.getBuiltinModule` like node:crypto
 * in crypto/node-backend.ts, so browser and Workers bundles import no node module. Elsewhere this
 * does nothing and the garbage collector frees the buffer as before.
 *
 * Only the owner may call it: a buffer the SDK made itself, that no other view aliases and that no
 * pending I/O still reads or writes (detaching memory a socket write is still sending from is a
 * use-after-free). Each call site says why its buffer qualifies. Buffers this cannot detach safely
 * are left alone: views of part of a buffer (Node's Buffer pool slices among them), shared and
 * non-transferable memory.
 */

interface ClosedPort {
  postMessage(message: null, transfer: ArrayBuffer[]): void;
}

/** How this runtime detaches a buffer, worked out on first use; null when it cannot. */
let detach: ((buffer: ArrayBuffer) => void) | null | undefined;

function closedPort(): ClosedPort | null {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const threads = proc?.getBuiltinModule?.("node:worker_threads") as { MessageChannel?: new () => { port1: ClosedPort & { close(): void } } } | undefined;
    if (typeof threads?.MessageChannel !== "function") return null;
    const { port1 } = new threads.MessageChannel();
    port1.close();
    return port1;
  } catch {
    return null;
  }
}

function detacher(): ((buffer: ArrayBuffer) => void) | null {
  const proto = ArrayBuffer.prototype as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
  if (typeof proto.transfer === "function") return (buffer) => void (buffer as typeof proto).transfer!(0);
  const port = closedPort();
  return port && ((buffer) => port.postMessage(null, [buffer]));
}

/**
 * Whether `view` covers all of a plain ArrayBuffer: a SharedArrayBuffer is not one, and a view of
 * part of a buffer (a Node Buffer pool slice among them) may share it with others.
 */
export function spansWholeBuffer(view: Uint8Array): boolean {
  return view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
}

/**
 * Frees the memory under `view` now, if `view` spans all of a plain ArrayBuffer (else leaves it
 * alone). Afterwards every view of that buffer has length 0. Returns whether it was freed.
 */
export function releaseBuffer(view: Uint8Array): boolean {
  if (!spansWholeBuffer(view) || view.byteLength === 0) return false;
  const buffer = view.buffer as ArrayBuffer;
  if (detach === undefined) detach = detacher();
  if (!detach) return false;
  try {
    detach(buffer);
  } catch {
    return false; // not transferable (a WebAssembly memory, a buffer Node marked untransferable)
  }
  return buffer.byteLength === 0;
}
