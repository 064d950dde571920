// The emulator's optional data plane: one real Postgres server per emulated branch, kept in step with the
// emulator's state, behind a TLS proxy that routes by endpoint host (see proxy.ts and the README).
//
// It is level-based, like a controller: after every mutation the emulator asks for a sync, and a sync
// compares the emulator's branches, roles (with passwords) and databases with what it has applied to the
// servers and applies the difference. Only a restore is an event (the data's source is not in the state).
// Syncs run one at a time; a connection waits for the sync in flight, so whatever the API acknowledged is
// in Postgres before any later connection is served.
import { randomInt } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createCa, issue, LEAF_EXTENSIONS } from '../../controlplane/pki.ts';
import type { BranchRecord, EmulatorState, RestoreEvent } from '../state.ts';
import { ComputeProxy, type ComputeRoute } from './proxy.ts';
import {
  ADMIN_ROLE,
  copyDataDir,
  findPostgres,
  forgetAtExit,
  initDataDir,
  makeServerDir,
  PostgresCluster,
  removeAtExit,
  type PostgresInstall,
} from './postgres-server.ts';

export interface ComputeOptions {
  /**
   * The loopback address the computes listen on. Default: a random 127.x.y.z, so that several emulators
   * on one machine can all use Neon's port (Linux routes all of 127.0.0.0/8 to the loopback interface).
   */
  address?: string;
  /** Default 5432, Neon's port, which is what the operator writes into Secrets. */
  port?: number;
}

/** What a client needs to reach the computes: host names `*.<regionHost>` resolve to `address`. */
export interface ComputeAccess {
  address: string;
  port: number;
  regionHost: string;
  /** The self-made CA that signed the computes' certificate (PEM, and the file holding it). */
  caPem: string;
  caFile: string;
}

interface Applied {
  /** Role name → password, as set in the server. */
  roles: Map<string, string>;
  /** Database name → the emulator's database id (to tell a rename from a drop and a create) and owner. */
  databases: Map<string, { id: number; owner: string }>;
}

interface BranchServer {
  cluster: PostgresCluster;
  dir: string;
  applied: Applied;
}

const ident = (name: string): string => pg.escapeIdentifier(name);
const literal = (value: string): string => pg.escapeLiteral(value);

function cloneApplied(a: Applied, branch: BranchRecord): Applied {
  const databases = new Map([...a.databases].map(([name, d]) => [name, { ...d, id: branch.databases.get(name)?.id ?? d.id }]));
  return { roles: new Map(a.roles), databases };
}

/** A random loopback address other than 127.0.0.1. */
function randomLoopback(): string {
  return `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

export class ComputeDataPlane {
  readonly access: ComputeAccess;
  /** Why syncs failed (never a password): `stop()` rejects when there are any. */
  readonly errors: string[] = [];
  private readonly state: EmulatorState;
  private readonly install: PostgresInstall;
  private readonly root: string;
  private readonly template: string;
  private readonly servers = new Map<string, BranchServer>();
  private readonly restores: RestoreEvent[] = [];
  private proxy: ComputeProxy | undefined;
  private chain: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;
  private serial = 0;

  private constructor(state: EmulatorState, install: PostgresInstall, root: string, access: ComputeAccess) {
    this.state = state;
    this.install = install;
    this.root = root;
    this.template = join(root, 'template', 'data');
    this.access = access;
  }

  /** Creates the CA and certificate, an empty data folder to copy, and the proxy. */
  static async start(state: EmulatorState, opts: ComputeOptions = {}): Promise<ComputeDataPlane> {
    const install = findPostgres();
    const root = makeServerDir(install, mkdtempSync(join(tmpdir(), 'neon-pg-')));
    removeAtExit(root);
    try {
      const tls = join(root, 'tls');
      mkdirSync(tls, { mode: 0o700 });
      const regionHost = state.regionHost;
      const [ca] = await Promise.all([createCa(tls, 'neon-emulator-compute-ca'), initDataDir(install, join(root, 'template', 'data'))]);
      const leaf = await issue(tls, ca, 'compute', `/CN=*.${regionHost}`, [
        ...LEAF_EXTENSIONS,
        'extendedKeyUsage=serverAuth',
        `subjectAltName=DNS:*.${regionHost}`,
      ]);
      const caPem = readFileSync(ca.cert, 'utf8');
      let plane: ComputeDataPlane | undefined;
      const route = (endpointId: string): Promise<ComputeRoute> => {
        if (!plane) return Promise.resolve({ refused: 'the computes are starting', code: '57P03' });
        return plane.route(endpointId);
      };
      const port = opts.port ?? 5432;
      let proxy: ComputeProxy | undefined;
      for (let attempt = 0; !proxy; attempt++) {
        const address = opts.address ?? randomLoopback();
        try {
          proxy = await ComputeProxy.listen({ address, port, certPem: readFileSync(leaf.cert, 'utf8'), keyPem: readFileSync(leaf.key, 'utf8'), route });
        } catch (err) {
          if (opts.address !== undefined || attempt >= 10 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        }
      }
      plane = new ComputeDataPlane(state, install, root, { address: proxy.address, port: proxy.port, regionHost, caPem, caFile: ca.cert });
      plane.proxy = proxy;
      state.onRestore = (e) => plane?.restored(e);
      return plane;
    } catch (err) {
      rmSync(root, { recursive: true, force: true });
      forgetAtExit(root);
      throw err;
    }
  }

  /**
   * Brings the servers in line with the emulator's state; resolves when done. Calls made while a sync is
   * queued share it. Never rejects: failures are recorded in `errors`.
   */
  sync(): Promise<void> {
    if (this.queued) return this.queued;
    const next = this.chain.then(async () => {
      this.queued = undefined;
      try {
        await this.syncOnce();
      } catch (err) {
        this.errors.push(err instanceof Error ? err.message : String(err));
      }
    });
    this.queued = next;
    this.chain = next;
    return next;
  }

  /** Records a restore (called by the restore route through `state.onRestore`) and syncs. */
  restored(e: RestoreEvent): void {
    this.restores.push(e);
    void this.sync();
  }

  /** The server of a branch once synced (for tests: run SQL as the superuser). */
  serverOf(branchId: string): PostgresCluster | undefined {
    return this.servers.get(branchId)?.cluster;
  }

  /** Stops the proxy and every server and removes their folders. */
  async stop(): Promise<void> {
    this.state.onRestore = undefined;
    await this.proxy?.close();
    await this.chain;
    await Promise.all([...this.servers.values()].map((s) => s.cluster.stop()));
    this.servers.clear();
    rmSync(this.root, { recursive: true, force: true });
    forgetAtExit(this.root);
  }

  private async route(endpointId: string): Promise<ComputeRoute> {
    await this.sync();
    const ep = this.state.findEndpoint(endpointId);
    if (!ep) return { refused: `endpoint ${endpointId} not found`, code: '08004' };
    if (ep.disabled) return { refused: `endpoint ${endpointId} is disabled`, code: '08004' };
    const server = this.servers.get(ep.branchId);
    if (!server) return { refused: `the compute of endpoint ${endpointId} failed to start`, code: '08004' };
    return { socketPath: server.cluster.socketPath };
  }

  private async syncOnce(): Promise<void> {
    const restores = this.restores.splice(0);
    // A preserved branch starts from the data of the restored branch before the restore (not from its parent).
    for (const r of restores) {
      const preserved = r.preservedId !== undefined ? this.state.findBranch(r.preservedId) : undefined;
      const before = this.servers.get(r.branchId);
      if (preserved && before && !this.servers.has(preserved.id)) await this.createServer(preserved, before);
    }
    const branches = [...this.state.projects.values()].flatMap((p) => [...p.branches.values()]);
    // Creation order: a parent is always served before its children copy it.
    for (const branch of branches) {
      if (!this.state.findBranch(branch.id)) continue;
      const server = this.servers.get(branch.id) ?? (await this.createServer(branch));
      await this.applyObjects(server, branch);
    }
    for (const r of restores) await this.restore(r);
    for (const [id, server] of this.servers) {
      if (this.state.findBranch(id)) continue;
      this.servers.delete(id);
      await server.cluster.stop();
      rmSync(server.dir, { recursive: true, force: true });
    }
  }

  /**
   * A branch's server: a copy of `from`'s data, by default its parent's (the source is stopped for the copy),
   * else an empty one.
   */
  private async createServer(branch: BranchRecord, from?: BranchServer): Promise<BranchServer> {
    const n = ++this.serial;
    const dir = makeServerDir(this.install, join(this.root, 'b', String(n)));
    const cluster = new PostgresCluster(this.install, join(dir, 'data'), join(this.root, 's', String(n)));
    const parent = from ?? (branch.parentId !== undefined ? this.servers.get(branch.parentId) : undefined);
    let applied: Applied;
    if (parent) {
      await parent.cluster.stop();
      await copyDataDir(parent.cluster.dataDir, cluster.dataDir);
      await Promise.all([parent.cluster.start(), cluster.start()]);
      applied = cloneApplied(parent.applied, branch);
    } else {
      await copyDataDir(this.template, cluster.dataDir);
      await cluster.start();
      // Neon's roles are members of neon_superuser, which may create databases and roles.
      await cluster.query('postgres', 'CREATE ROLE neon_superuser NOLOGIN CREATEDB CREATEROLE');
      applied = { roles: new Map(), databases: new Map() };
    }
    const server: BranchServer = { cluster, dir, applied };
    this.servers.set(branch.id, server);
    return server;
  }

  /** The branch's data becomes a copy of the source's (a restore from the branch itself keeps it). */
  private async restore(r: RestoreEvent): Promise<void> {
    const target = this.servers.get(r.branchId);
    const source = this.servers.get(r.sourceId);
    const branch = this.state.findBranch(r.branchId);
    if (!target || !source || !branch || r.sourceId === r.branchId) return;
    await Promise.all([target.cluster.stop(), source.cluster.stop()]);
    await copyDataDir(source.cluster.dataDir, target.cluster.dataDir);
    await Promise.all([target.cluster.start(), source.cluster.start()]);
    target.applied = cloneApplied(source.applied, branch);
    await this.applyObjects(target, branch);
  }

  /** Roles, passwords and databases of the branch, applied to its server; `applied` follows each statement. */
  private async applyObjects(server: BranchServer, branch: BranchRecord): Promise<void> {
    const { roles, databases } = server.applied;
    const run = (database: string, ...statements: string[]) => server.cluster.query(database, ...statements);
    for (const role of branch.roles.values()) {
      const current = roles.get(role.name);
      if (current === role.password) continue;
      await run(
        'postgres',
        current === undefined
          ? `CREATE ROLE ${ident(role.name)} WITH LOGIN CREATEDB CREATEROLE PASSWORD ${literal(role.password)} IN ROLE neon_superuser`
          : `ALTER ROLE ${ident(role.name)} WITH PASSWORD ${literal(role.password)}`,
      );
      roles.set(role.name, role.password);
    }
    const wanted = [...branch.databases.values()];
    const ownerOf = (owner: string): string => (branch.roles.has(owner) ? owner : ADMIN_ROLE);
    for (const [name, db] of [...databases]) {
      if (branch.databases.has(name)) continue;
      const renamed = wanted.find((w) => w.id === db.id && !databases.has(w.name));
      const kick = `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${literal(name)}`;
      if (renamed) {
        await run('postgres', kick, `ALTER DATABASE ${ident(name)} RENAME TO ${ident(renamed.name)}`);
        databases.set(renamed.name, db);
      } else {
        await run('postgres', `DROP DATABASE ${ident(name)} WITH (FORCE)`);
      }
      databases.delete(name);
    }
    for (const db of wanted) {
      const owner = ownerOf(db.ownerName);
      const current = databases.get(db.name);
      if (!current) {
        await run('postgres', `CREATE DATABASE ${ident(db.name)} OWNER ${ident(owner)}`);
      } else if (current.owner !== owner) {
        await run('postgres', `ALTER DATABASE ${ident(db.name)} OWNER TO ${ident(owner)}`);
      } else {
        continue;
      }
      databases.set(db.name, { id: db.id, owner });
    }
    for (const name of [...roles.keys()]) {
      if (branch.roles.has(name)) continue;
      // What the role owns passes to the superuser in every database, then the role can go.
      for (const database of ['postgres', ...databases.keys()]) {
        await run(database, `REASSIGN OWNED BY ${ident(name)} TO ${ident(ADMIN_ROLE)}`, `DROP OWNED BY ${ident(name)}`);
      }
      await run('postgres', `DROP ROLE ${ident(name)}`);
      roles.delete(name);
    }
  }
}
