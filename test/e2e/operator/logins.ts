// Logging in with what the operator's Secrets say, against the emulator's real Postgres (setUpSuite with
// `postgres: true`). The only thing added to a Secret is how to reach the emulator's computes (their host
// names resolve nowhere here) and its CA: see test/emulator/compute/client.ts.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectWithUri, queryWithUri } from '../../emulator/compute/client.ts';
import type { ComputeAccess } from '../../emulator/server.ts';
import { coreResources, type SecretObject } from '../../../src/runtime/index.ts';
import { readyCondition, typeOfKind, type NeonObject, type Suite } from './fixture.ts';

const execFileAsync = promisify(execFile);

/** The Secret keys that hold a full connection URI. */
export const URI_KEYS = ['uri', 'pooled-uri', 'DATABASE_URL'] as const;

export function computeAccess(suite: Suite): ComputeAccess {
  const access = suite.emulator.compute?.access;
  if (!access) throw new Error('this suite needs the emulator started with postgres: true');
  return access;
}

/** Who the server says we are after logging in with `uri`. */
export async function whoAmI(suite: Suite, uri: string): Promise<{ user: string; db: string }> {
  const [row] = await queryWithUri<{ user: string; db: string }>(computeAccess(suite), uri, 'select current_user as user, current_database() as db');
  if (!row) throw new Error('select current_user returned no row');
  return row;
}

/** The SQLSTATE (or message) a login with `uri` fails with; undefined when it logs in. */
export async function loginFailure(suite: Suite, uri: string): Promise<string | undefined> {
  try {
    const client = await connectWithUri(computeAccess(suite), uri);
    await client.end();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).message;
  }
}

/** Whether psql is on this machine (the pgpass check needs it). */
export const psqlAvailable = spawnSync('psql', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * Logs in with psql the way an application using the Secret's `pgpass` does: host, port, dbname and
 * username from the Secret, the password only from the pgpass file. Returns `current_user|current_database`.
 */
export async function psqlWithPgpass(suite: Suite, data: Record<string, string>): Promise<string> {
  const access = computeAccess(suite);
  const dir = await mkdtemp(join(tmpdir(), 'pgpass-'));
  try {
    const pgpass = join(dir, 'pgpass');
    await writeFile(pgpass, data['pgpass'] ?? '', { mode: 0o600 });
    const conninfo = `host=${data['host'] ?? ''} port=${data['port'] ?? ''} dbname=${data['dbname'] ?? ''} user=${data['username'] ?? ''} sslmode=require`;
    const { stdout } = await execFileAsync('psql', ['-w', '-A', '-t', '-c', 'select current_user, current_database()', conninfo], {
      // PGHOSTADDR is the resolver here; sslrootcert makes sslmode=require check the CA.
      env: { PATH: process.env['PATH'] ?? '', PGPASSFILE: pgpass, PGHOSTADDR: access.address, PGSSLROOTCERT: access.caFile, PGCONNECT_TIMEOUT: '20' },
      timeout: 60_000,
    });
    return stdout.trim();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Every connection Secret the operator wrote in the suite's namespace whose source object says Ready (for
 * its current generation): each URI key must log in as the Secret's username on its dbname. Returns how
 * many Secrets were checked and what failed (`secret key: reason`, never a password).
 */
export async function readySecretLogins(suite: Suite): Promise<{ checked: string[]; failures: string[] }> {
  const secrets = await suite.kube.list<SecretObject>(coreResources.secret, suite.namespace, { labelSelector: 'app.kubernetes.io/managed-by=neon-operator' });
  const checked: string[] = [];
  const failures: string[] = [];
  for (const secret of secrets.items) {
    const labels = secret.metadata?.labels ?? {};
    const kind = labels['neon-operator.dev/source-kind'];
    const source = labels['neon-operator.dev/source-name'];
    if (!kind || !source) continue;
    const owner = await suite.kube.get<NeonObject>(typeOfKind(kind), { namespace: suite.namespace, name: source });
    const ready = readyCondition(owner);
    if (ready?.status !== 'True' || ready.observedGeneration !== owner?.metadata?.generation) continue;
    const data = Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    const name = secret.metadata?.name ?? '?';
    checked.push(name);
    for (const key of URI_KEYS) {
      try {
        const who = await whoAmI(suite, data[key] ?? '');
        if (who.user !== data['username'] || who.db !== data['dbname']) failures.push(`${name} ${key}: logged in as ${who.user} on ${who.db}`);
      } catch (err) {
        failures.push(`${name} ${key}: ${(err as { code?: string }).code ?? ''} ${(err as Error).message}`);
      }
    }
  }
  return { checked, failures };
}
