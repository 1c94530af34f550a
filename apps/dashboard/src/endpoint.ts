/**
 * The API base URL of the dashboard: the page's own origin (the server that
 * served it), or `?endpoint=<url>` to use another Conclave — one that allows
 * this origin with CORS (any origin by default; `--cors` narrows it).
 * `fallback` replaces the page's origin when there is no override (Vite's
 * dev server is not a Conclave).
 */
export function endpointOf(
  location: { origin: string; search: string },
  fallback: string = location.origin,
): string {
  const override = new URLSearchParams(location.search).get("endpoint")?.trim();
  if (override === undefined || override === "") return fallback;
  const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(override) ? override : `http://${override}`);
  return url.href.replace(/\/+$/, "");
}
