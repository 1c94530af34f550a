import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ConfigFileError, readConfigFile } from "./config-file.js";
import { parseFlags } from "./flags.js";

const dir = mkdtempSync(join(tmpdir(), "conclave-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(text: string): string {
  const path = join(dir, `c${++n}.yml`);
  writeFileSync(path, text);
  return path;
}

/** A config as etcd.conf.yml.sample writes one (3.4), trimmed. */
const etcdSample = `
name: 'from-file'
data-dir: /var/lib/conclave-test
snapshot-count: 10000
listen-peer-urls: http://localhost:2380
listen-client-urls: http://127.0.0.1:12379
max-txn-ops: 64
initial-cluster-state: 'new'
auto-compaction-mode: revision
auto-compaction-retention: "500"
client-transport-security:
  client-cert-auth: false
  auto-tls: false
peer-transport-security:
  client-cert-auth: false
log-outputs: [default]
debug: true
`;

describe("config file", () => {
  it("reads etcd's YAML: flag names as keys, TLS sections, lists", () => {
    assert.deepEqual(readConfigFile(file("listen-client-urls: http://127.0.0.1:1\n")), [
      { name: "listen-client-urls", value: "http://127.0.0.1:1" },
    ]);
    assert.deepEqual(
      readConfigFile(
        file(
          "client-transport-security:\n  cert-file: a.pem\npeer-transport-security:\n  client-cert-auth: true\nlog-outputs: [a, b]\n",
        ),
      ),
      [
        { name: "cert-file", value: "a.pem" },
        { name: "peer-client-cert-auth", value: "true" },
        { name: "log-outputs", value: "a,b" },
      ],
    );
    assert.deepEqual(readConfigFile(file("")), []);
  });

  it("sets what flags and the environment do not; they win over it", () => {
    const path = file(etcdSample);
    const fromFile = parseFlags(["--config-file", path]);
    assert.equal(fromFile.name, "from-file");
    assert.equal(fromFile.dataDir, "/var/lib/conclave-test");
    assert.deepEqual(fromFile.listenClientUrls, ["http://127.0.0.1:12379"]);
    assert.equal(fromFile.maxTxnOps, 64);
    assert.equal(fromFile.logLevel, "debug");
    assert.deepEqual(fromFile.autoCompaction, { mode: "revision", retention: 500, text: "500" });
    assert.ok(
      fromFile.warnings.includes(
        `snapshot-count in ${path} has no effect: Conclave has no Raft peers, or Raft WAL files and snapshots to tune`,
      ),
      fromFile.warnings.join("\n"),
    );
    const overridden = parseFlags(["--config-file", path, "--name", "from-flag"], {
      ETCD_NAME: "from-env",
      ETCD_MAX_TXN_OPS: "32",
    });
    assert.equal(overridden.name, "from-flag");
    assert.equal(overridden.maxTxnOps, 32);
    const viaEnv = parseFlags([], { ETCD_CONFIG_FILE: path });
    assert.equal(viaEnv.name, "from-file");
  });

  it("names unknown settings with the closest one, and refuses what is not a config", () => {
    const c = parseFlags(["--config-file", file("data-dirr: x\n")]);
    assert.ok(
      c.warnings.some((w) => /unknown setting data-dirr .*did you mean data-dir\?/.test(w)),
      c.warnings.join("\n"),
    );
    assert.throws(() => readConfigFile(join(dir, "missing.yml")), ConfigFileError);
    assert.throws(() => readConfigFile(file("- a\n- b\n")), /must be a YAML mapping/);
    assert.throws(() => readConfigFile(file("name: [unclosed\n")), /not valid YAML/);
    // A value the flag would refuse is refused the same way, naming the file.
    assert.throws(
      () => parseFlags(["--config-file", file("max-txn-ops: lots\n")]),
      /invalid value "lots" for max-txn-ops in .*: not a whole number/,
    );
  });
});
