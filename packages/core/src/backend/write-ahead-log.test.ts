import assert from "node:assert/strict";
import { closeSync, openSync, readSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { tempDirs } from "../test-util.js";
import { openWriteAheadLog } from "./write-ahead-log.js";

const tempDir = tempDirs("conclave-wal-");
const logPath = () => join(tempDir(), "test.wal");
const payload = (i: number, size = 8) => new Uint8Array(size).fill(i % 251);
const seqs = (log: { recovered: readonly { seq: number }[] }) => log.recovered.map((r) => r.seq);
/** A log of 64 KiB at `path`. */
const openSmall = (path: string) => openWriteAheadLog({ path, capacity: 64 * 1024 });

/** Writes records 1..`last` to a new 64 KiB log at `path`, a batch each, and closes it. */
async function writeRecords(path: string, last: number): Promise<void> {
  const log = openSmall(path);
  log.reset(1);
  for (let i = 1; i <= last; i++) await log.append(i, payload(i));
  await log.close();
}

describe("write-ahead log", () => {
  it("gives back what was appended, in order, after reopening", async () => {
    const path = logPath();
    const log = openSmall(path);
    assert.deepEqual(seqs(log), []);
    log.reset(7);
    // One turn: one batch; then one more batch.
    await Promise.all([7, 8, 9].map((i) => log.append(i, payload(i))));
    await log.append(10, payload(10, 3000));
    await log.close();
    const again = openSmall(path);
    assert.deepEqual(seqs(again), [7, 8, 9, 10]);
    assert.deepEqual(again.recovered[3]?.payload, payload(10, 3000));
    await again.close();
  });

  it("refuses a sequence number out of order", async () => {
    const log = openSmall(logPath());
    log.reset(1);
    await log.append(1, payload(1));
    await assert.rejects(log.append(3, payload(3)), /record 3 after 1/);
    await log.close();
  });

  it("ends at a torn record: its CRC fails, and nothing after it counts", async () => {
    const path = logPath();
    await writeRecords(path, 3);
    // Flip a payload byte of record 2 (header 4096, records of 16 + 8 bytes).
    const fd = openSync(path, "r+");
    const at = 4096 + 24 + 16 + 3;
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, at);
    byte[0] = (byte[0] as number) ^ 0xff;
    writeSync(fd, byte, 0, 1, at);
    closeSync(fd);
    const again = openSmall(path);
    assert.deepEqual(seqs(again), [1]);
    await again.close();
  });

  it("after a reset, the records before it are gone for good", async () => {
    const path = logPath();
    await writeRecords(path, 5);
    const second = openSmall(path);
    assert.deepEqual(seqs(second), [1, 2, 3, 4, 5]);
    second.reset(6);
    await second.append(6, payload(6));
    await second.close();
    // Record 6 overwrote record 1; 2..5 are stale behind it.
    const third = openSmall(path);
    assert.deepEqual(seqs(third), [6]);
    await third.close();
  });

  it("starts over at its head once what it holds is checkpointed, in the same file", async () => {
    const path = logPath();
    const capacity = 16 * 1024;
    const log = openWriteAheadLog({ path, capacity });
    log.reset(1);
    for (let i = 1; i <= 200; i++) {
      await log.append(i, payload(i, 200));
      log.checkpoint(i);
    }
    await log.close();
    assert.equal(statSync(path).size, capacity, "the file did not grow");
    const again = openWriteAheadLog({ path, capacity });
    const found = seqs(again);
    assert.ok(found.length > 0 && found.length < 200, `${found.length} records`);
    assert.equal(found.at(-1), 200);
    await again.close();
  });

  it("holds an append while full of records not yet checkpointed", async () => {
    const path = logPath();
    const capacity = 16 * 1024;
    let full = 0;
    const log = openWriteAheadLog({ path, capacity, onFull: () => full++ });
    log.reset(1);
    // 12 KiB of records fill what follows the 4 KiB header.
    for (let i = 1; i <= 3; i++) await log.append(i, payload(i, 4000));
    let done = false;
    const fourth = log.append(4, payload(4, 4000)).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, false, "written over records the store still needed");
    assert.ok(full >= 1, "the store was not told to take the records");
    assert.equal(log.waiting, true);
    log.checkpoint(3);
    await fourth;
    assert.equal(log.waiting, false);
    await log.close();
    const again = openWriteAheadLog({ path, capacity });
    assert.deepEqual(seqs(again), [4]);
    await again.close();
  });

  it("grows for a batch larger than the file", async () => {
    const path = logPath();
    const log = openWriteAheadLog({ path, capacity: 16 * 1024 });
    log.reset(1);
    await log.append(1, payload(1, 100 * 1024));
    await log.close();
    assert.ok(statSync(path).size >= 100 * 1024);
    const again = openWriteAheadLog({ path, capacity: 16 * 1024 });
    assert.deepEqual(seqs(again), [1]);
    assert.equal(again.recovered[0]?.payload.length, 100 * 1024);
    await again.close();
  });

  // Batches written at once: 1 (one at a time), the default 2, and more.
  for (const writesInFlight of [1, 2, 4]) {
    it(`acknowledges in order with ${writesInFlight} write(s) in flight, across starts over at its head`, async () => {
      const path = logPath();
      const capacity = 16 * 1024;
      const log = openWriteAheadLog({ path, capacity, writesInFlight });
      log.reset(1);
      const acknowledged: number[] = [];
      const appends: Promise<void>[] = [];
      // 300 records, 1 to 5 per turn, no turn waiting for the last (only
      // for the oldest of more than 12 outstanding): the batches overlap;
      // each is checkpointed once acknowledged, so the log starts over at
      // its head several times meanwhile.
      let seq = 1;
      for (let turn = 0; seq <= 300; turn++) {
        if (appends.length - acknowledged.length > 12) await appends[acknowledged.length];
        for (let k = 0; k <= turn % 5 && seq <= 300; k++, seq++) {
          const i = seq;
          appends.push(
            log.append(i, payload(i, 300)).then(() => {
              acknowledged.push(i);
              log.checkpoint(i);
            }),
          );
        }
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all(appends);
      assert.deepEqual(
        acknowledged,
        Array.from({ length: 300 }, (_, i) => i + 1),
      );
      await log.close();
      assert.equal(statSync(path).size, capacity, "the file did not grow");
      const again = openWriteAheadLog({ path, capacity });
      const found = seqs(again);
      assert.ok(found.length < 300, `started over: ${found.length} records`);
      assert.equal(found.at(-1), 300);
      assert.deepEqual(
        found,
        Array.from({ length: found.length }, (_, i) => 301 - found.length + i),
      );
      await again.close();
    });
  }

  it("reports each batch's write once", async () => {
    const seen: number[] = [];
    const log = openWriteAheadLog({
      path: logPath(),
      capacity: 64 * 1024,
      onSync: (s) => seen.push(s),
    });
    log.reset(1);
    await Promise.all([1, 2, 3].map((i) => log.append(i, payload(i))));
    await log.append(4, payload(4));
    assert.equal(seen.length, 2);
    assert.ok(seen.every((s) => s >= 0 && s < 60));
    await log.close();
  });
});

describe("write-ahead log damage", () => {
  it("refuses a log whose header is damaged, naming the file", async () => {
    const path = logPath();
    await openSmall(path).close();
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.from([0xff]), 0, 1, 9);
    closeSync(fd);
    assert.throws(
      () => openSmall(path),
      (e: Error) => e.message.includes(path) && /header is damaged/.test(e.message),
    );
  });
});
