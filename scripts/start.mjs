#!/usr/bin/env node
// `npm start`: builds the dashboard and the server bundle when their sources
// changed since the last build (a current build starts at once), then runs
// the server in this process with the arguments given after `npm start --`.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The newest modification time under `paths` (files or folders; node_modules and dist skipped). */
function newest(paths) {
  let max = 0;
  const visit = (p) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const name of readdirSync(p)) {
        if (name !== "node_modules" && name !== "dist") visit(join(p, name));
      }
    } else max = Math.max(max, st.mtimeMs);
  };
  for (const p of paths) visit(join(root, p));
  return max;
}

const packages = readdirSync(join(root, "packages")).map((p) => `packages/${p}/src`);
const shared = [...packages, "package-lock.json"];
const builds = [
  {
    name: "@conclave/dashboard",
    output: "apps/dashboard/dist/index.html",
    inputs: [
      ...shared,
      "apps/dashboard/src",
      "apps/dashboard/index.html",
      "apps/dashboard/vite.config.ts",
    ],
    args: ["--", "--logLevel", "warn"],
  },
  {
    name: "@conclave/server-app",
    output: "apps/server/dist/conclave.mjs",
    inputs: [...shared, "apps/server/src", "apps/server/scripts"],
    args: [],
  },
];
for (const b of builds) {
  const out = join(root, b.output);
  if (existsSync(out) && statSync(out).mtimeMs >= newest(b.inputs)) continue;
  process.stderr.write(`building ${b.name} (sources changed since the last build)\n`);
  execFileSync("npm", ["run", "-s", "build", "-w", b.name, ...b.args], {
    cwd: root,
    stdio: "inherit",
  });
}

process.setSourceMapsEnabled(true);
await import(join(root, "apps/server/dist/conclave.mjs"));
