import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { b, s } from "../test-util.js";
import type { Backend } from "./backend.js";
import { DataDirError, dataDirLockName } from "./data-dir-lock.js";
import { createLmdbBackend } from "./lmdb-backend.js";
import { createMemoryBackend } from "./memory-backend.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir() {
  const d = mkdtempSync(join(tmpdir(), "conclave-backend-"));
  dirs.push(d);
  return d;
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
      assert.ok(be.sizeBytes() >= before + 8 * 1024 ** 2, `${before} -> ${be.sizeBytes()}`);
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
    const holder = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `import { createLmdbBackend } from ${JSON.stringify(join(import.meta.dirname, "lmdb-backend.ts"))};
         createLmdbBackend({ dir: ${JSON.stringify(dir)} });
         process.stdout.write("open\\n");
         setInterval(() => {}, 1000);`,
      ],
      { cwd: import.meta.dirname, stdio: ["ignore", "pipe", "inherit"] },
    );
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
  it("reports one duration per group commit, after it is durable", async () => {
    const be = createLmdbBackend({ dir: tempDir() });
    const seen: number[] = [];
    const stop = be.onCommitDuration((seconds) => seen.push(seconds));
    // Three commits in one event turn share one LMDB transaction.
    const turn = [1, 2, 3].map((i) =>
      be.commit([{ bucket: "key", key: b(`k${i}`), value: b("v") }]),
    );
    assert.equal(seen.length, 0);
    await Promise.all(turn);
    assert.equal(seen.length, 1);
    await be.commit([{ bucket: "key", key: b("k4"), value: b("v") }]);
    assert.equal(seen.length, 2);
    assert.ok(
      seen.every((s) => s > 0 && s < 60),
      `durations ${seen}`,
    );
    stop();
    await be.commit([{ bucket: "key", key: b("k5"), value: b("v") }]);
    assert.equal(seen.length, 2);
    await be.close();
  });
});
