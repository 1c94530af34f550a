#!/usr/bin/env node
// The `conclave` command: runs the TypeScript entry point through tsx, with
// this app's tsconfig whatever the working directory: its `paths` (from
// tsconfig.base.json) resolve @conclave/proto and /wire to their sources,
// whose package exports point at a dist/ that only a build makes.
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

register({ tsconfig: fileURLToPath(new URL("../tsconfig.json", import.meta.url)) });
await import("../src/main.ts");
