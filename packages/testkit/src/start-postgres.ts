import type { ChildProcess } from "node:child_process";
import {
  appendFileSync,
  chownSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { freePort } from "./free-port.js";
import { clusterOwner, isRoot, runPgTool, spawnPgTool } from "./run-pg-tool.js";

/**
 * A real PostgreSQL server (Debian's `postgresql`) in a temp dir on a free
 * loopback port, for the PostgreSQL storage mode's tests. Linux only.
 */
export interface PostgresCluster {
  /** postgres://postgres@127.0.0.1:PORT/postgres — trust auth on loopback. */
  url: string;
  port: number;
  /** The cluster's PGDATA (`<temp dir>/data`); the temp dir also holds the Unix socket and the log. */
  dataDir: string;
  /** The server's log (`<temp dir>/postgres.log`), kept across restarts: read it when a test fails. */
  logFile: string;
  /**
   * Runs SQL through psql (-X -A -t -q -v ON_ERROR_STOP=1, the script on
   * stdin: one statement after another, each in its own transaction unless
   * the script says BEGIN) as the postgres user against `db` (default
   * "postgres"); resolves stdout trimmed (rows one a line, columns joined by
   * `|`), rejects with psql's error.
   */
  psql(sql: string, db?: string): Promise<string>;
  /**
   * Creates a fresh database (default name `test_N`, N counting up per
   * cluster) and returns its URL (tests isolate by database).
   */
  createDatabase(name?: string): Promise<string>;
  /** pg_ctl stop -m fast (waits for the shutdown checkpoint, up to 60 s); a no-op when not running. */
  stop(): Promise<void>;
  /** stop() then start(): the same port, data dir and settings. */
  restart(): Promise<void>;
  /**
   * Starts the server again after stop() or kill() (crash recovery then
   * runs; up to 60 s), on the same port, data dir and settings; resolves
   * once it accepts connections. A no-op when running. The postmaster is our
   * child process, not pg_ctl's orphan, so a killed one is reaped at once and
   * its stale lock files name no live process.
   */
  start(): Promise<void>;
  /**
   * SIGKILL the postmaster (crash), for crash tests — and every process of
   * the cluster with it, so none finishes a commit afterwards. The OS keeps
   * what was written: this tests PostgreSQL's WAL replay, not a power loss.
   */
  kill(): Promise<void>;
  /** Stops (if running; kills if that fails) and removes the temp dir. Idempotent. */
  close(): Promise<void>;
  /** close(), for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

export interface StartPostgresOptions {
  /**
   * postgresql.conf settings over the defaults (e.g. `{ synchronous_commit:
   * "off" }`): listen_addresses=127.0.0.1, max_connections=200, fsync=on,
   * synchronous_commit=on, wal_level=replica, max_wal_senders=10,
   * max_replication_slots=10, hot_standby=on. The address, port, socket dir
   * and cluster_name are the harness's and cannot be set. Default none.
   */
  settings?: Record<string, string>;
}

/**
 * Starts a fresh PostgreSQL cluster: initdb (trust auth, superuser
 * `postgres`, locale C so text sorts by bytes, UTF8, --no-sync) in a temp dir
 * under os.tmpdir(), then the server on a free 127.0.0.1 port (another one,
 * up to 3 times, if it was taken meanwhile). pg_hba trusts loopback TCP and
 * the Unix socket, replication connections included (startStandby). Runs as
 * the `postgres` user when we are root: PostgreSQL refuses root. The cluster
 * is killed and its dir removed when this process exits, if the test did
 * not close it.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresCluster> {
  const settings = checkSettings(options.settings ?? {});
  const tempDir = makeTempDir("conclave-pg-");
  const dataDir = join(tempDir, "data");
  try {
    await runPgTool(
      "initdb",
      [
        "-D",
        dataDir,
        "-A",
        "trust",
        "-U",
        "postgres",
        "--no-sync",
        "--no-instructions",
        "--locale=C",
        "-E",
        "UTF8",
      ],
      { asOwner: true, cwd: tempDir },
    );
    writeOwned(
      join(dataDir, "pg_hba.conf"),
      [
        "# Written by @conclave/testkit's startPostgres: trust on loopback only.",
        "local all all trust",
        "host all all 127.0.0.1/32 trust",
        "local replication all trust",
        "host replication all 127.0.0.1/32 trust",
        "",
      ].join("\n"),
    );
    // Our settings live in their own file, which every later line of
    // postgresql.conf (none) and postgresql.auto.conf (ALTER SYSTEM) overrides.
    appendFileSync(join(dataDir, "postgresql.conf"), "\ninclude 'conclave.conf'\n");
  } catch (err) {
    rmSync(tempDir, { recursive: true, force: true });
    throw err;
  }
  return openCluster(tempDir, settings);
}

/** What startStandby needs of a cluster beyond its public API. */
export interface ClusterInternals {
  tempDir: string;
  settings: Record<string, string>;
  running(): boolean;
}

const internals = new WeakMap<PostgresCluster, ClusterInternals>();

/** The internals of a cluster startPostgres or startStandby made; throws for any other object. */
export function clusterInternals(cluster: PostgresCluster): ClusterInternals {
  const i = internals.get(cluster);
  if (!i) throw new Error("not a cluster from startPostgres or startStandby");
  return i;
}

/** Clusters not yet closed, by temp dir, with their postmaster while it runs: at exit, killed and removed. */
const live = new Map<string, () => ChildProcess | undefined>();

process.once("exit", () => {
  for (const [tempDir, postmaster] of live) {
    // Immediate shutdown: the postmaster SIGQUITs its children and exits.
    postmaster()?.kill("SIGQUIT");
    rmSync(tempDir, { recursive: true, force: true, maxRetries: 3 });
  }
});

/** A temp dir under os.tmpdir() the cluster's owner may write (mkdtemp's is ours, mode 0700). */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (isRoot) chownSync(dir, clusterOwner().uid, clusterOwner().gid);
  return dir;
}

/** Writes a file in the data dir, owned by the cluster's owner (we may be root). */
export function writeOwned(path: string, text: string): void {
  writeFileSync(path, text);
  if (isRoot) chownSync(path, clusterOwner().uid, clusterOwner().gid);
}

/** Settings the harness owns: changing them would break url, kill() or the socket. */
const reserved = new Set(["listen_addresses", "port", "unix_socket_directories", "cluster_name"]);

function checkSettings(settings: Record<string, string>): Record<string, string> {
  for (const name of Object.keys(settings)) {
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(name)) throw new Error(`bad setting name ${name}`);
    if (reserved.has(name)) throw new Error(`${name} is set by startPostgres`);
  }
  return settings;
}

/** One postgresql.conf line: every value quoted, which is valid for every type. */
function confLine(name: string, value: string): string {
  return `${name} = '${value.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}

/** The last `lines` lines of the log, for error messages. */
export function logTail(logFile: string, lines = 30): string {
  if (!existsSync(logFile)) return "(no log)";
  return readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
}

/**
 * Every live process of the cluster: the postmaster (and pg_ctl) name the
 * data dir in their arguments, the others retitle themselves
 * `postgres: <cluster_name>: …`. Zombies (dead, not yet reaped by init:
 * the backends of a killed postmaster are orphans) have no cmdline and do
 * not count.
 */
function clusterPids(dataDir: string, clusterName: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
    } catch {
      continue;
    }
    if (cmdline.startsWith(`postgres: ${clusterName}: `) || cmdline.split("\0").includes(dataDir)) {
      pids.push(Number(entry));
    }
  }
  return pids;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `ready()` resolves true (a rejection counts as false); rejects with `what()` after timeoutMs. */
export async function waitUntil(
  ready: () => Promise<boolean>,
  timeoutMs: number,
  what: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready().catch(() => false)) return;
    if (Date.now() >= deadline) throw new Error(what());
    await sleep(100);
  }
}

/** How long a start (crash recovery included) or a stop may take. */
const startStopTimeoutMs = 60_000;

export interface OpenOptions {
  /** Runs first in close(), before the cluster stops (a standby unregisters from its primary). */
  beforeClose?: () => Promise<void>;
  /** Runs last in close(), once the temp dir is gone. */
  afterClose?: () => Promise<void>;
}

/**
 * Writes conclave.conf for a prepared data dir (initdb's or pg_basebackup's)
 * in `tempDir`, starts it on a free port (retried on another if it was taken
 * meanwhile) and wraps it. On failure everything is killed and removed.
 */
export async function openCluster(
  tempDir: string,
  settings: Record<string, string>,
  hooks: OpenOptions = {},
): Promise<PostgresCluster> {
  const dataDir = join(tempDir, "data");
  const logFile = join(tempDir, "postgres.log");
  // Unique on this machine: kill() finds the cluster's processes by it.
  const clusterName = basename(tempDir);
  let port = 0;
  /** The running server: our child (so it is reaped the moment it dies), or none. */
  let postmaster: { proc: ChildProcess; exit: Promise<string> } | undefined;
  let closed = false;
  let databases = 0;
  let closing: Promise<void> | undefined;
  live.set(tempDir, () => postmaster?.proc);

  const writeConf = () =>
    writeOwned(
      join(dataDir, "conclave.conf"),
      [
        "# Written by @conclave/testkit's startPostgres; postgresql.auto.conf overrides it.",
        ...Object.entries({
          listen_addresses: "127.0.0.1",
          port: String(port),
          unix_socket_directories: tempDir,
          cluster_name: clusterName,
          max_connections: "200",
          fsync: "on",
          synchronous_commit: "on",
          wal_level: "replica",
          max_wal_senders: "10",
          max_replication_slots: "10",
          hot_standby: "on",
          ...settings,
        }).map(([k, v]) => confLine(k, v)),
        "",
      ].join("\n"),
    );

  const psql = async (sql: string, db = "postgres") => {
    const dbname = `'${db.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
    const conninfo = `host=127.0.0.1 port=${port} user=postgres dbname=${dbname} connect_timeout=10`;
    const args = ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-f", "-"];
    return (await runPgTool("psql", args, { input: sql })).trim();
  };

  /**
   * Our postmaster says it is up (postmaster.pid: its pid, status ready or
   * standby — not another server that took the port) and it answers.
   */
  const ready = async (pid: number | undefined) => {
    const lines = readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n");
    if (Number(lines[0]) !== pid || !/^(ready|standby)/.test(lines[7] ?? "")) return false;
    await runPgTool("pg_isready", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres"]);
    return true;
  };

  const kill = async () => {
    const pm = postmaster;
    // The postmaster first, so it forks no replacements; then the rest.
    pm?.proc.ref();
    pm?.proc.kill("SIGKILL");
    await waitUntil(
      async () => {
        const pids = clusterPids(dataDir, clusterName);
        for (const p of pids) {
          try {
            process.kill(p, "SIGKILL");
          } catch {}
        }
        return pids.length === 0;
      },
      10_000,
      () => `processes of ${dataDir} still live 10 s after SIGKILL`,
    );
    // Reaped: the pid in its stale lock files names no live process.
    await pm?.exit;
    postmaster = undefined;
  };

  const start = async () => {
    if (closed) throw new Error(`${dataDir} was closed`);
    if (postmaster) return;
    const log = openSync(logFile, "a");
    let proc: ChildProcess;
    try {
      // Its own session (detached), as pg_ctl would: our terminal's signals are not its.
      proc = spawnPgTool("postgres", ["-D", dataDir], {
        asOwner: true,
        cwd: tempDir,
        stdio: ["ignore", log, log],
        detached: true,
      });
    } finally {
      closeSync(log);
    }
    // Only waiting for its exit (stop, kill) holds the event loop for it.
    proc.unref();
    let exited: string | undefined;
    const exit = new Promise<string>((resolve) => {
      proc.once("exit", (code, signal) => resolve(signal ?? `exit ${code}`));
      proc.once("error", (err) => resolve(err.message));
    }).then((how) => {
      exited = how;
      return how;
    });
    postmaster = { proc, exit };
    try {
      const deadline = Date.now() + startStopTimeoutMs;
      for (;;) {
        if (exited !== undefined) throw new Error(`the postmaster exited (${exited})`);
        if (await ready(proc.pid).catch(() => false)) break;
        if (Date.now() >= deadline) {
          throw new Error(`it accepts no connections after ${startStopTimeoutMs / 1000} s`);
        }
        await sleep(50);
      }
    } catch (err) {
      // Still starting (a slow crash recovery), or half started: no leftovers.
      await kill().catch(() => {});
      throw new Error(
        `PostgreSQL (${dataDir}) did not start on 127.0.0.1:${port}: ${(err as Error).message}\n--- log tail (${logFile}):\n${logTail(logFile)}`,
      );
    }
  };

  const stop = async () => {
    const pm = postmaster;
    if (!pm) return;
    pm.proc.ref();
    try {
      await runPgTool(
        "pg_ctl",
        ["stop", "-D", dataDir, "-s", "-m", "fast", "-w", "-t", String(startStopTimeoutMs / 1000)],
        { asOwner: true, cwd: tempDir },
      );
    } catch (err) {
      // Fine if it was gone already (it died on its own).
      const gone = await Promise.race([pm.exit.then(() => true), sleep(1000).then(() => false)]);
      if (!gone) {
        throw new Error(
          `${(err as Error).message}\n--- log tail (${logFile}):\n${logTail(logFile)}`,
        );
      }
    }
    await pm.exit;
    postmaster = undefined;
  };

  const close = () => {
    closing ??= (async () => {
      await hooks.beforeClose?.().catch(() => {});
      await stop().catch(() => kill());
      closed = true;
      live.delete(tempDir);
      rmSync(tempDir, { recursive: true, force: true, maxRetries: 3 });
      await hooks.afterClose?.().catch(() => {});
    })();
    return closing;
  };

  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      writeConf();
      await start();
      break;
    } catch (err) {
      const taken = /Address already in use/.test(String(err));
      if (!taken || attempt === 3) {
        closed = true;
        live.delete(tempDir);
        rmSync(tempDir, { recursive: true, force: true, maxRetries: 3 });
        throw err;
      }
    }
  }

  const cluster: PostgresCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    logFile,
    psql,
    async createDatabase(name) {
      const db = name ?? `test_${++databases}`;
      await psql(`CREATE DATABASE "${db.replaceAll('"', '""')}"`);
      return `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(db)}`;
    },
    stop,
    async restart() {
      await stop();
      await start();
    },
    start,
    kill,
    close,
    [Symbol.asyncDispose]: close,
  };
  internals.set(cluster, { tempDir, settings, running: () => postmaster !== undefined });
  return cluster;
}
