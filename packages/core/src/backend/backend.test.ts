import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { open } from "lmdb";
import { b, s, tempDirs } from "../test-util.js";
import type { Backend } from "./backend.js";
import { DataDirError, dataDirLockName } from "./data-dir-lock.js";
import { createLmdbBackend, logFileName } from "./lmdb-backend.js";
import { createMemoryBackend } from "./memory-backend.js";
import { openWriteAheadLog } from "./write-ahead-log.js";
import { encodeOps } from "./write-buffer.js";

const tempDir = tempDirs("conclave-backend-");

/** A child process running `body` with `createLmdbBackend` imported; its stdout piped. */
function backendProcess(body: string) {
  const backend = JSON.stringify(join(import.meta.dirname, "lmdb-backend.ts"));
  return spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      `import { createLmdbBackend } from ${backend};\n${body}`,
    ],
    { cwd: import.meta.dirname, stdio: ["ignore", "pipe", "inherit"] },
  );
}

/** The contract every backend keeps, run against each implementation. */
const factories: Array<[string, () => Backend]> = [
  ["memory", () => createMemoryBackend()],
  ["lmdb", () => createLmdbBackend({ dir: tempDir() })],
];

for (const [name, make] of factories) {
  describe(`backend conformance: ${name}`, () => {
    it("commits atomically, reads back, ranges in byte order", async () => {
      const be = make();
      await be.commit([
        { bucket: "key", key: b("b"), value: b("2") },
        { bucket: "key", key: new Uint8Array([0xff]), value: b("ff") },
        { bucket: "key", key: b("a"), value: b("1") },
        { bucket: "meta", key: b("a"), value: b("m") },
      ]);
      assert.equal(s(be.get("key", b("a")) ?? b("")), "1");
      assert.equal(s(be.get("meta", b("a")) ?? b("")), "m");
      assert.deepEqual(
        [...be.range("key")].map((e) => s(e.value)),
        ["1", "2", "ff"],
      );
      assert.deepEqual(
        [...be.range("key", b("b"))].map((e) => s(e.value)),
        ["2", "ff"],
      );
      assert.deepEqual(
        [...be.range("key", b("a"), b("b"))].map((e) => s(e.value)),
        ["1"],
      );
      await be.commit([{ bucket: "key", key: b("a"), value: undefined }]);
      assert.equal(be.get("key", b("a")), undefined);
      assert.ok(be.sizeBytes() > 0);
      await be.close();
    });
    it("reports the size a commit grew to as soon as the commit resolves", async () => {
      const be = make();
      await be.commit([{ bucket: "key", key: b("small"), value: b("1") }]);
      const before = be.sizeBytes();
      assert.equal(be.sizeBytes(), before, "asked again with no commit between");
      await be.commit([{ bucket: "key", key: b("big"), value: new Uint8Array(8 * 1024 ** 2) }]);
      // (A backend with a log counts writes its file lacks yet by their bytes: an estimate.)
      assert.ok(be.sizeBytes() >= 8 * 1024 ** 2, `${before} -> ${be.sizeBytes()}`);
      assert.ok(be.sizeBytes() > before, `${before} -> ${be.sizeBytes()}`);
      await be.close();
    });
    it("keeps commit order for many in-flight commits", async () => {
      const be = make();
      const all = [];
      for (let i = 0; i < 200; i++)
        all.push(be.commit([{ bucket: "key", key: b("x"), value: b(`${i}`) }]));
      await Promise.all(all);
      assert.equal(s(be.get("key", b("x")) ?? b("")), "199");
      await be.close();
    });
  });
}

describe("lmdb backend durability", () => {
  it("a resolved commit is there after reopening", async () => {
    const dir = tempDir();
    const be = createLmdbBackend({ dir });
    await be.commit([{ bucket: "key", key: b("k"), value: b("v") }]);
    await be.close();
    const again = createLmdbBackend({ dir });
    assert.equal(s(again.get("key", b("k")) ?? b("")), "v");
    await again.close();
  });
});

describe("lmdb backend for tools that read an existing store", () => {
  it("create: false refuses a directory without a store, and creates nothing", () => {
    const dir = join(tempDir(), "typo");
    assert.throws(() => createLmdbBackend({ dir, create: false }), /no Conclave store in .*typo/);
    assert.equal(existsSync(dir), false);
  });

  it("refuses a data dir another live process holds, and takes it once that process is gone", async () => {
    const dir = tempDir();
    const be = createLmdbBackend({ dir });
    await be.commit([{ bucket: "key", key: b("k"), value: b("v") }]);
    await be.close();
    // Another process holding the store as a server does, through this backend.
    const holder = backendProcess(`
         createLmdbBackend({ dir: ${JSON.stringify(dir)} });
         process.stdout.write("open\\n");
         setInterval(() => {}, 1000);`);
    try {
      await once(holder.stdout, "data");
      assert.throws(
        () => createLmdbBackend({ dir, create: false }),
        (e: unknown) =>
          e instanceof DataDirError &&
          e.message.includes(`in use by another conclave (pid ${holder.pid})`),
      );
    } finally {
      holder.kill("SIGKILL");
      await once(holder, "exit");
    }
    // Its lock is stale now (kill -9 left the file): taken over.
    const again = createLmdbBackend({ dir, create: false });
    assert.equal(s(again.get("key", b("k")) ?? b("")), "v");
    await again.close();
    assert.equal(existsSync(join(dir, dataDirLockName)), false, "released at close");
  });
});

describe("lmdb backend defragment", () => {
  it("gives space back, keeps every commit (also those issued during it), and reopens the new file", async () => {
    const dir = tempDir();
    const be = createLmdbBackend({ dir });
    const big = new Uint8Array(64 * 1024).fill(7);
    for (let i = 0; i < 200; i++) {
      await be.commit([{ bucket: "key", key: b(`k${i}`), value: big }]);
    }
    await be.commit(
      Array.from({ length: 190 }, (_, i) => ({ bucket: "key", key: b(`k${i}`), value: undefined })),
    );
    const before = be.sizeBytes();
    const defrag = be.defragment();
    // Issued while the copy runs: applied after it, to the new file, in order.
    const during = [
      be.commit([{ bucket: "key", key: b("during"), value: b("1") }]),
      be.commit([{ bucket: "key", key: b("during"), value: b("2") }]),
    ];
    assert.equal(be.get("key", b("k195"))?.length, big.length, "reads go on meanwhile");
    await defrag;
    await Promise.all(during);
    const after = be.sizeBytes();
    assert.ok(after < before / 4, `${before} → ${after} bytes`);
    assert.equal(s(be.get("key", b("during")) ?? b("")), "2");
    assert.equal([...be.range("key")].length, 11);
    await be.defragment(); // again: conclave-1 → conclave-2
    await be.commit([{ bucket: "key", key: b("after"), value: b("x") }]);
    await be.close();
    const again = createLmdbBackend({ dir });
    assert.equal(s(again.get("key", b("during")) ?? b("")), "2");
    assert.equal(s(again.get("key", b("after")) ?? b("")), "x");
    assert.equal([...again.range("key")].length, 12);
    await again.close();
    const { readdirSync } = await import("node:fs");
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith(".mdb")),
      ["conclave-2.mdb"],
      "the replaced files are gone",
    );
  });
});

describe("lmdb backend commit durations", () => {
  it("reports one log write per group commit, once durable, and the store's transactions", async () => {
    const be = createLmdbBackend({ dir: tempDir() });
    const seen: { seconds: number; stage: string }[] = [];
    const stop = be.onCommitDuration((seconds, stage) => seen.push({ seconds, stage }));
    const log = () => seen.filter((x) => x.stage === "log").length;
    // Three commits in one event turn share one write of the log.
    const turn = [1, 2, 3].map((i) =>
      be.commit([{ bucket: "key", key: b(`k${i}`), value: b("v") }]),
    );
    assert.equal(seen.length, 0);
    await Promise.all(turn);
    assert.equal(log(), 1);
    await be.commit([{ bucket: "key", key: b("k4"), value: b("v") }]);
    assert.equal(log(), 2);
    // Closing waits until LMDB holds every write: its transactions were timed too.
    await be.snapshotTo(join(tempDir(), "snap.db"));
    assert.ok(seen.some((x) => x.stage === "store"));
    assert.ok(
      seen.every((x) => x.seconds >= 0 && x.seconds < 60),
      `durations ${JSON.stringify(seen)}`,
    );
    stop();
    const before = seen.length;
    await be.commit([{ bucket: "key", key: b("k5"), value: b("v") }]);
    assert.equal(seen.length, before);
    await be.close();
  });
});

describe("lmdb backend write-ahead log", () => {
  /** A data dir whose LMDB holds k=stored (record 1), closed cleanly. */
  async function storedDir() {
    const dir = tempDir();
    const be = createLmdbBackend({ dir });
    await be.commit([{ bucket: "key", key: b("k"), value: b("stored") }]);
    await be.close();
    return dir;
  }

  it("replays at open the records LMDB lacks (acknowledged, then a crash)", async () => {
    const dir = await storedDir();
    // What a crash leaves: records in the log after the last one LMDB took.
    const log = openWriteAheadLog({ path: join(dir, logFileName) });
    log.reset(2);
    await log.append(
      2,
      encodeOps([
        { bucket: "key", key: b("k"), value: b("logged") },
        { bucket: "key", key: b("new"), value: b("n") },
      ]),
    );
    await log.append(3, encodeOps([{ bucket: "key", key: b("new"), value: undefined }]));
    await log.close();

    const be = createLmdbBackend({ dir });
    assert.equal(s(be.get("key", b("k")) ?? b("")), "logged");
    assert.equal(be.get("key", b("new")), undefined);
    // Commits go on after the replayed records.
    await be.commit([{ bucket: "key", key: b("after"), value: b("a") }]);
    await be.close();
    const again = createLmdbBackend({ dir });
    assert.equal(s(again.get("key", b("k")) ?? b("")), "logged");
    assert.equal(s(again.get("key", b("after")) ?? b("")), "a");
    await again.close();
  });

  it("kill -9 while writing: every acknowledged write is there after reopening, some only from the log", async () => {
    const dir = tempDir();
    const writer = backendProcess(`
         const be = createLmdbBackend({ dir: ${JSON.stringify(dir)} });
         const enc = new TextEncoder();
         for (let i = 0; ; i++) {
           await be.commit([{ bucket: "key", key: enc.encode("k" + i), value: enc.encode(String(i)) }]);
           process.stdout.write(i + "\\n");
         }`);
    let acked = -1;
    let text = "";
    await new Promise<void>((resolve) => {
      writer.stdout.on("data", (chunk: Buffer) => {
        text += chunk.toString();
        const lines = text.split("\n");
        text = lines.pop() ?? "";
        for (const l of lines) acked = Math.max(acked, Number(l));
        if (acked >= 300) resolve();
      });
    });
    writer.kill("SIGKILL");
    await once(writer, "exit");
    assert.ok(acked >= 300);
    // What LMDB itself held at the kill: the last record it took.
    const raw = open({ path: join(dir, "conclave.mdb"), maxDbs: 16, readOnly: true });
    const seqBytes = raw.openDB({ name: "log", encoding: "binary" }).get("seq") as
      | Buffer
      | undefined;
    const inLmdb = seqBytes === undefined ? 0 : seqBytes.readUInt32BE(4);
    await raw.close();
    assert.ok(inLmdb < acked + 1, `LMDB held all ${inLmdb} records: nothing came from the log`);

    const be = createLmdbBackend({ dir });
    for (let i = 0; i <= acked; i++) {
      assert.equal(s(be.get("key", b(`k${i}`)) ?? b("")), String(i), `acknowledged write ${i}`);
    }
    await be.close();
  });

  it("keeps its log in a directory of its own (--wal-dir), locked like the data dir", async () => {
    const dir = tempDir();
    const logDir = join(tempDir(), "wal");
    const be = createLmdbBackend({ dir, logDir });
    assert.ok(existsSync(join(logDir, logFileName)));
    assert.equal(existsSync(join(dir, logFileName)), false);
    assert.ok(existsSync(join(logDir, dataDirLockName)));
    await be.commit([{ bucket: "key", key: b("k"), value: b("v") }]);
    await be.close();
    assert.equal(existsSync(join(logDir, dataDirLockName)), false, "released at close");
    // A record only the log holds is replayed from there.
    const log = openWriteAheadLog({ path: join(logDir, logFileName) });
    log.reset(2);
    await log.append(2, encodeOps([{ bucket: "key", key: b("k"), value: b("logged") }]));
    await log.close();
    const again = createLmdbBackend({ dir, logDir });
    assert.equal(s(again.get("key", b("k")) ?? b("")), "logged");
    await again.close();
  });

  it("LMDB takes gathered writes once commits pause, or at the batch limit during a steady stream", async () => {
    const be = createLmdbBackend({ dir: tempDir(), batch: { intervalMs: 60_000, limit: 10 } });
    let stored = 0;
    be.onCommitDuration((_s, stage) => {
      if (stage === "store") stored++;
    });
    // A commit every millisecond for 100 ms: never quiet, and the interval is a minute away.
    let i = 0;
    const writes: Promise<void>[] = [];
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        writes.push(be.commit([{ bucket: "key", key: b(`k${i++}`), value: b("v") }]));
        if (i === 100) {
          clearInterval(t);
          resolve();
        }
      }, 1);
    });
    await Promise.all(writes);
    assert.ok(stored >= 2, `the batch limit stored ${stored} times during the stream`);
    // Then quiet: what gathered goes to LMDB within milliseconds, not at the interval.
    const before = stored;
    await be.commit([{ bucket: "key", key: b("last"), value: b("v") }]);
    for (let n = 0; n < 100 && stored === before; n++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(stored > before, "nothing stored after the writes paused");
    await be.close();
  });

  it("does not replay records LMDB already holds", async () => {
    const dir = await storedDir();
    // An older record for k, numbered 1, which LMDB already took.
    const log = openWriteAheadLog({ path: join(dir, logFileName) });
    log.reset(1);
    await log.append(1, encodeOps([{ bucket: "key", key: b("k"), value: b("older") }]));
    await log.close();
    const be = createLmdbBackend({ dir });
    assert.equal(s(be.get("key", b("k")) ?? b("")), "stored");
    await be.close();
  });

  it("reads see a commit once it resolves, before LMDB has it; ranges merge it in order", async () => {
    const be = createLmdbBackend({ dir: tempDir() });
    await be.commit([
      { bucket: "key", key: b("a"), value: b("1") },
      { bucket: "key", key: b("c"), value: b("3") },
    ]);
    await be.snapshotTo(join(tempDir(), "snap.db")); // LMDB has a and c now
    // Not awaited between: the second commit is read while LMDB may lack it.
    const second = be.commit([
      { bucket: "key", key: b("b"), value: b("2") },
      { bucket: "key", key: b("c"), value: undefined },
    ]);
    await second;
    assert.equal(s(be.get("key", b("b")) ?? b("")), "2");
    assert.equal(be.get("key", b("c")), undefined);
    assert.deepEqual(
      [...be.range("key")].map((e) => s(e.key)),
      ["a", "b"],
    );
    await be.close();
  });

  it("keeps every acknowledged write through a defrag that runs while commits go on", async () => {
    const dir = tempDir();
    const be = createLmdbBackend({ dir });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      writes.push(be.commit([{ bucket: "key", key: b(`k${i}`), value: b(`${i}`) }]));
      if (i === 50) writes.push(be.defragment());
    }
    await Promise.all(writes);
    await be.close();
    const again = createLmdbBackend({ dir });
    assert.equal([...again.range("key")].length, 200);
    assert.equal(s(again.get("key", b("k199")) ?? b("")), "199");
    await again.close();
  });
});

describe("lmdb backend ranges over stored and buffered writes", () => {
  const keys = (it: Iterable<{ key: Uint8Array }>) => [...it].map((e) => s(e.key));
  /** A backend whose first writes are in LMDB and whose later ones are still buffered. */
  async function split() {
    const be = createLmdbBackend({ dir: tempDir(), batch: { intervalMs: 60_000, limit: 10_000 } });
    let stores = 0;
    be.onCommitDuration((_s, stage) => {
      if (stage === "store") stores++;
    });
    const stored = async () => {
      const before = stores;
      for (let n = 0; n < 200 && stores === before; n++) await new Promise((r) => setTimeout(r, 5));
      assert.ok(stores > before, "LMDB took the writes");
    };
    await be.commit([
      { bucket: "key", key: b("r02"), value: b("2") },
      { bucket: "key", key: b("r04"), value: b("4") },
    ]);
    await stored();
    // Buffered: the store runs once commits pause (5 ms), after these reads.
    await be.commit([
      { bucket: "key", key: b("r06"), value: b("6") },
      { bucket: "key", key: b("r08"), value: b("8") },
      { bucket: "lease", key: b("l1"), value: b("L") },
    ]);
    return { be, stored };
  }

  // Each case: where the range starts (and ends), and what it lists, with
  // r02 and r04 in LMDB and r06, r08 (and a first key of another bucket) buffered.
  const cases: Array<{
    name: string;
    start?: string;
    end?: string;
    bucket?: string;
    want: string[];
  }> = [
    { name: "from the start", want: ["r02", "r04", "r06", "r08"] },
    { name: "from below LMDB's keys", start: "r01", want: ["r02", "r04", "r06", "r08"] },
    { name: "from between LMDB's keys", start: "r03", want: ["r04", "r06", "r08"] },
    { name: "from LMDB's last key", start: "r04", want: ["r04", "r06", "r08"] },
    { name: "from past all LMDB holds", start: "r05", want: ["r06", "r08"] },
    { name: "past LMDB, with an end", start: "r05", end: "r07", want: ["r06"] },
    { name: "past everything", start: "r09", want: [] },
    { name: "a bucket LMDB has nothing of", bucket: "lease", want: ["l1"] },
  ];
  for (const c of cases) {
    it(`lists ${c.name}`, async () => {
      const { be, stored } = await split();
      const range = () =>
        keys(
          be.range(
            c.bucket ?? "key",
            c.start === undefined ? undefined : b(c.start),
            c.end === undefined ? undefined : b(c.end),
          ),
        );
      assert.deepEqual(range(), c.want, "with the later writes buffered");
      await stored();
      assert.deepEqual(range(), c.want, "once LMDB holds them all");
      // A new buffered key past the rest, after LMDB took r08: still listed.
      await be.commit([{ bucket: c.bucket ?? "key", key: b("r10"), value: b("10") }]);
      const past = c.bucket === undefined && c.start !== undefined && c.end === undefined;
      if (past || c.start === undefined) assert.deepEqual(range(), [...c.want, "r10"]);
      await be.close();
    });
  }

  it("lists what LMDB took before a defragment and what came after", async () => {
    const { be, stored } = await split();
    await stored();
    await be.defragment();
    await be.commit([{ bucket: "key", key: b("r10"), value: b("10") }]);
    assert.deepEqual(keys(be.range("key", b("r05"), undefined)), ["r06", "r08", "r10"]);
    assert.deepEqual(keys(be.range("key", b("r09"), undefined)), ["r10"]);
    await be.close();
  });
});
