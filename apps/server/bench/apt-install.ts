// Installs Debian packages the bench needs (the Go toolchain, wrk) on a fresh
// machine, the way scripts/test.sh installs etcd: sudo unless root, no
// prompts, waiting up to 10 minutes for another apt to finish.

import { spawnSync } from "node:child_process";

/** `apt-get update` then `apt-get install` of `packages`; throws if either fails. */
export function aptInstall(packages: readonly string[]): void {
  const sudo = process.getuid?.() === 0 ? [] : ["sudo"];
  const apt = (args: string[]) => {
    const [cmd, ...rest] = [...sudo, "apt-get", ...args];
    const r = spawnSync(cmd ?? "apt-get", rest, {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed (${r.status})`);
  };
  process.stderr.write(`bench: installing ${packages.join(" ")}\n`);
  apt(["update", "-qq"]);
  apt(["install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=600", ...packages]);
}
