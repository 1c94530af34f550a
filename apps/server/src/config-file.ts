import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

/**
 * The YAML parser, loaded on first use: most starts read no config file, and
 * loading it costs every start ~0.08 s of CPU (BENCHMARKS.md, "Restart time").
 * Synchronous (flags are parsed synchronously), through `require`.
 */
function parseYaml(text: string): unknown {
  const yaml = createRequire(import.meta.url)("yaml") as typeof import("yaml");
  return yaml.parse(text);
}

/** One setting of a config file, under its flag's name, as flag text. */
export interface ConfigFileEntry {
  name: string;
  value: string;
}

/** A config file that cannot be read or is not etcd's YAML form. */
export class ConfigFileError extends Error {
  override name = "ConfigFileError";
}

/**
 * etcd's sections: the settings inside them carry the flag names of the
 * client side; the peer side's have no effect here but keep their names.
 */
const sections: Record<string, (key: string) => string> = {
  "client-transport-security": (key) => key,
  "peer-transport-security": (key) =>
    key === "client-cert-auth" ? "peer-client-cert-auth" : `peer-${key}`,
};

/**
 * Reads etcd's YAML configuration file (`--config-file`, the format of
 * etcd.conf.yml.sample): the same keys as the flags, TLS settings in
 * `client-transport-security` / `peer-transport-security`, lists (such as
 * `log-outputs`) as YAML sequences. Values come back as the text a flag
 * would carry, so one parser checks both.
 */
export function readConfigFile(path: string): ConfigFileEntry[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigFileError(`cannot read config file ${path}: ${code}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigFileError(`config file ${path} is not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return [];
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigFileError(`config file ${path} must be a YAML mapping of settings`);
  }
  const entries: ConfigFileEntry[] = [];
  const add = (name: string, value: unknown) => {
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) {
      entries.push({ name, value: value.map(String).join(",") });
    } else if (typeof value === "object") {
      throw new ConfigFileError(`config file ${path}: "${name}" must be a value, not a mapping`);
    } else {
      entries.push({ name, value: String(value) });
    }
  };
  for (const [key, value] of Object.entries(doc)) {
    const section = sections[key];
    if (section !== undefined && value !== null && typeof value === "object") {
      for (const [inner, v] of Object.entries(value)) add(section(inner), v);
    } else {
      add(key, value);
    }
  }
  return entries;
}
