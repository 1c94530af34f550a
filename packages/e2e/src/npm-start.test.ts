// `npm start` (scripts/start.mjs) builds only what changed: a current build
// starts at once; a changed server source rebuilds the bundle first. The
// server itself runs in the same process with the flags passed on.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { utimesSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const start = (...args: string[]) =>
  spawnSync(process.execPath, [join(root, "scripts", "start.mjs"), ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 120_000,
  });

test("npm start: no rebuild when current; a changed source rebuilds first", () => {
  const current = start("--version");
  // The first run may build what an earlier step left stale; then it is current.
  assert.equal(current.status, 0, current.stderr);
  const again = start("--version");
  assert.equal(again.status, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /building/, "nothing rebuilt");
  assert.match(again.stdout, /^conclave version: /m, "the server ran with the flags passed on");

  const source = join(root, "apps", "server", "src", "main.ts");
  const now = new Date();
  utimesSync(source, now, now);
  const changed = start("--version");
  assert.equal(changed.status, 0, changed.stderr);
  assert.match(changed.stderr, /building @conclave\/server-app/);
  assert.doesNotMatch(changed.stderr, /building @conclave\/dashboard/, "only what changed");
  assert.match(changed.stdout, /^conclave version: /m);
});
