import { defineConfig } from "vite";

// The server serves dist/ at "/" (apps/server/src/dashboard-routes.ts):
// hashed files under assets/ are cached forever, index.html never. A
// relative base lets the same build be hosted under any path elsewhere
// (with ?endpoint= pointing at a CORS-enabled Conclave).
export default defineConfig({
  base: "./",
  // @conclave/client, /proto and /wire resolve to their sources through
  // tsconfig.base.json's `paths` (their package exports point at dist/,
  // which only `npm run build` or `npm pack` makes).
  resolve: { tsconfigPaths: true },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    // Protobuf descriptors of every etcd service make one ~250 kB chunk; fine for a dashboard.
    chunkSizeWarningLimit: 1_000,
  },
  server: { host: "127.0.0.1" },
});
