/**
 * What a URL hash points at: a key (`#key=app/config`), an election
 * (`#election=jobs`) or a revision (`#rev=42`); a key may carry a revision
 * too (`#key=app/config&rev=42`). Values are percent-encoded.
 */
export interface DeepLink {
  key?: string;
  election?: string;
  revision?: bigint;
}

export function parseDeepLink(hash: string): DeepLink {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const link: DeepLink = {};
  const key = params.get("key");
  const election = params.get("election");
  const rev = params.get("rev");
  if (key !== null) link.key = key;
  if (election !== null) link.election = election;
  if (rev !== null && /^[1-9][0-9]*$/.test(rev)) link.revision = BigInt(rev);
  return link;
}

export function formatDeepLink(link: DeepLink): string {
  const params = new URLSearchParams();
  if (link.key !== undefined) params.set("key", link.key);
  if (link.election !== undefined) params.set("election", link.election);
  if (link.revision !== undefined) params.set("rev", String(link.revision));
  const s = params.toString();
  return s === "" ? "" : `#${s}`;
}
