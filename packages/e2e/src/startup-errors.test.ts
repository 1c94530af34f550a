// Start-up failures an operator can fix are one line naming the port or the
// path, with no stack trace, and exit code 1 (etcd exits 1 with one fatal
// log line): a port in use, a data dir in use by another conclave, a data
// dir that is a file or cannot be created, a bad certificate. A data dir
// whose previous owner died (kill -9) is not "in use".
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type RunningServer, serverBundle, startConclave } from "@conclave/testkit";

/** Runs the CLI to its exit (at most 20 s); its exit code and stderr. */
function run(args: string[], uid?: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [serverBundle, "--log-level", "warn", ...args], {
      stdio: ["ignore", "ignore", "pipe"],
      ...(uid !== undefined && { uid, gid: uid }),
    });
    let stderr = "";
    p.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      p.kill("SIGKILL");
      reject(new Error(`still running after 20 s: ${args.join(" ")}\n${stderr}`));
    }, 20_000);
    p.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe("start-up failures: one line, exit 1", () => {
  const dir = mkdtempSync(join(tmpdir(), "conclave-startup-"));
  let server: RunningServer;
  before(async () => {
    server = await startConclave({ dataDir: join(dir, "taken") });
  });
  after(() => server?.stop());

  const free = () => `http://127.0.0.1:${40000 + Math.floor(Math.random() * 20000)}`;
  const cases: Array<{ name: string; args: () => string[]; line: RegExp; uid?: number }> = [
    {
      name: "port in use",
      args: () => ["--data-dir", join(dir, "a"), "--listen-client-urls", server.url],
      line: /^conclave: cannot listen on http:\/\/127\.0\.0\.1:\d+ \(port \d+\): address already in use$/,
    },
    {
      name: "data dir in use by another conclave",
      args: () => ["--data-dir", join(dir, "taken"), "--listen-client-urls", free()],
      line: /^conclave: data dir .*taken is in use by another conclave \(pid \d+\); stop it first/,
    },
    {
      name: "data dir is a file",
      args: () => {
        writeFileSync(join(dir, "file"), "x");
        return ["--data-dir", join(dir, "file"), "--listen-client-urls", free()];
      },
      line: /^conclave: cannot use data dir .*file: exists and is not a directory$/,
    },
    {
      name: "data dir cannot be created",
      args: () => {
        mkdirSync(join(dir, "ro"), { recursive: true });
        chmodSync(join(dir, "ro"), 0o555);
        chmodSync(dir, 0o755);
        return ["--data-dir", join(dir, "ro", "x"), "--listen-client-urls", free()];
      },
      line: /^conclave: cannot use data dir .*ro\/x: permission denied$/,
      // root may write anywhere: run as nobody.
      ...(process.getuid?.() === 0 && { uid: 65534 }),
    },
    {
      name: "bad certificate",
      args: () => {
        writeFileSync(join(dir, "bad.pem"), "not a certificate\n");
        return [
          ...[
            "--data-dir",
            join(dir, "c"),
            "--listen-client-urls",
            free().replace("http", "https"),
          ],
          ...["--cert-file", join(dir, "bad.pem"), "--key-file", join(dir, "bad.pem")],
        ];
      },
      line: /^conclave: cannot use --cert-file .*bad\.pem with --key-file .*bad\.pem: .+$/,
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const { code, stderr } = await run(c.args(), c.uid);
      assert.equal(code, 1, stderr);
      const lines = stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, `one line, no stack:\n${stderr}`);
      assert.match(lines[0] ?? "", c.line);
    });
  }

  test("a data dir whose owner was killed (kill -9) starts", async () => {
    const dataDir = join(dir, "killed");
    const first = await startConclave({ dataDir });
    await first.kill();
    const second = await startConclave({ dataDir });
    await second.stop();
  });
});
