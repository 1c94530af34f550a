// Builds the server that `npm start` runs: apps/server/src/main.ts and the
// workspace packages it imports (@conclave/*, TypeScript) into one ES module,
// dist/conclave.mjs, with npm dependencies left as imports.
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
  plugins: [
    {
      name: "npm-dependencies-stay-imports",
      setup(b) {
        // Bare imports other than our workspace packages resolve from
        // node_modules at run time (native lmdb, CommonJS packages, …).
        b.onResolve({ filter: /^[^./]/ }, (args) =>
          args.path.startsWith("@conclave/") ? undefined : { path: args.path, external: true },
        );
      },
    },
  ],
});
