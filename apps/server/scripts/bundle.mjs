// Builds the server that `npm start` runs: apps/server/src/main.ts, the
// workspace packages it imports (@conclave/*, TypeScript) and the npm
// dependencies into one ES module, dist/conclave.mjs. Only lmdb and
// @node-rs/bcrypt stay imports (each loads a native addon, from its own
// directory or its platform package).
//
// Why the npm dependencies too: resolving and loading their ~400 files one by
// one (Fastify, Connect, protobuf-es, pino, prom-client, …) was most of what
// an empty server spent to start, ~0.3 s of the ~1.2 s CPU
// (BENCHMARKS.md, "Restart time"). CommonJS packages need `require`, which an
// ES module lacks: the banner provides it.
//
// Why not run the sources through tsx, as tests and `bin/conclave.js` do: tsx
// compiles with esbuild's keepNames, which wraps every function and closure
// in a `__name()` call that redefines its `name` each time it is created. On
// the request path that is 5–15% of the server's CPU (BENCHMARKS.md). The
// bundle is the same code without it; a source map keeps stack traces on the
// .ts lines (node --enable-source-maps).

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

await build({
  entryPoints: [join(root, "src/main.ts")],
  outfile: join(root, "dist/conclave.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: "linked",
  logLevel: "warning",
  external: ["lmdb", "@node-rs/bcrypt"],
  banner: {
    js: 'import { createRequire as __conclaveCreateRequire } from "node:module"; const require = __conclaveCreateRequire(import.meta.url);',
  },
});
