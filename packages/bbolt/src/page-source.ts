import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";
import type { PageSource } from "./bbolt-reader.js";
import type { BboltSink } from "./bbolt-writer.js";

/** A page source over bytes in memory. */
export function bufferPageSource(bytes: Uint8Array): PageSource {
  return {
    size: bytes.length,
    read: (position, length) => bytes.subarray(position, Math.min(bytes.length, position + length)),
  };
}

/**
 * A page source reading the file at `path` with positional reads (the file
 * is never loaded whole). `length` caps the bytes considered part of the
 * database — e.g. to leave out a snapshot's SHA-256 trailer. Close it after use.
 */
export function filePageSource(path: string, length?: number): PageSource & { close(): void } {
  const fd = openSync(path, "r");
  const size = Math.min(fstatSync(fd).size, length ?? Number.POSITIVE_INFINITY);
  return {
    size,
    read(position, len) {
      const n = Math.max(0, Math.min(len, size - position));
      const out = new Uint8Array(n);
      let done = 0;
      while (done < n) {
        const r = readSync(fd, out, done, n - done, position + done);
        if (r === 0) break;
        done += r;
      }
      return out.subarray(0, done);
    },
    close: () => closeSync(fd),
  };
}

/** A sink that collects pages in memory; `bytes()` is the file so far. */
export function createMemorySink(): BboltSink & { bytes(): Uint8Array } {
  let buf = new Uint8Array(64 * 1024);
  let size = 0;
  return {
    write(bytes, position) {
      const end = position + bytes.length;
      if (end > buf.length) {
        const grown = new Uint8Array(Math.max(end, buf.length * 2));
        grown.set(buf.subarray(0, size));
        buf = grown;
      }
      buf.set(bytes, position);
      if (end > size) size = end;
    },
    bytes: () => buf.subarray(0, size),
  };
}

/** A sink writing to the file at `path` (created or truncated). Close it after use. */
export function createFileSink(path: string): BboltSink & { close(): void } {
  const fd = openSync(path, "w");
  return {
    write(bytes, position) {
      let done = 0;
      while (done < bytes.length) {
        done += writeSync(fd, bytes, done, bytes.length - done, position + done);
      }
    },
    close: () => closeSync(fd),
  };
}
