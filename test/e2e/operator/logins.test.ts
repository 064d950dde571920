// The Secrets an application reads, used the way it uses them: against the emulator's real Postgres, every
// kind of connection Secret the operator writes (the NeonProject's owner Secret and a NeonRole's Secret)
// logs in with its uri, pooled-uri and DATABASE_URL (pg, sslmode=require, the certificate checked) and with
// its pgpass (psql); after a rotation only the new password works; after a restore of the branch from its
// parent, done through the Neon API behind the operator's back, the branch holds the parent's data.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryWithUri } from '../../emulator/compute/client.ts';
import { RawClient } from '../../emulator/raw-client.ts';
import { API_KEY, eventually, exampleObjects, getSecretData, setUpSuite, typeOfKind, waitReady, type Suite } from './fixture.ts';
import { computeAccess, loginFailure, psqlAvailable, psqlWithPgpass, readySecretLogins, URI_KEYS, whoAmI } from './logins.ts';

/** The examples' two connection Secrets: who each logs in as, on which database. */
const SECRETS = [
  { secret: 'demo-connection', user: 'neondb_owner', db: 'neondb' },
  { secret: 'app-db', user: 'app', db: 'app' },
] as const;

describe('operator: the connection Secrets log in to a real Postgres', () => {
  let suite: Suite;
  const secretData = async (name: string): Promise<Record<string, string>> => {
    const data = await getSecretData(suite, name);
    if (!data) throw new Error(`Secret ${name} not found`);
    return data;
  };

  beforeAll(async () => {
    suite = await setUpSuite('op-logins', { postgres: true });
    await suite.startOperator({ resyncPeriodMs: 3_000, waitingRequeueMs: 2_000 });
    const objects = await exampleObjects(suite.namespace);
    await Promise.all(objects.map((o) => suite.kube.create(typeOfKind(o.kind), o)));
    for (const o of objects) await waitReady(suite, o.kind ?? '', o.metadata?.name ?? '', 90_000);
  });
  afterAll(async () => {
    await suite?.teardown();
  });

  it('the project owner and NeonRole Secrets log in with uri, pooled-uri and DATABASE_URL as their user on their database', async () => {
    for (const { secret, user, db } of SECRETS) {
      const data = await secretData(secret);
      expect([data['username'], data['dbname'], data['port']]).toEqual([user, db, '5432']);
      for (const key of URI_KEYS) {
        expect(new URL(data[key] ?? '').searchParams.get('sslmode'), `${secret} ${key}`).toBe('require');
        expect(await whoAmI(suite, data[key] ?? ''), `${secret} ${key}`).toEqual({ user, db });
      }
      // The pooled URI goes through the pooler host, which reaches the same server.
      expect(new URL(data['pooled-uri'] ?? '').hostname).toBe(data['pooled-host']);
    }
    const all = await readySecretLogins(suite);
    expect(all.checked.sort()).toEqual(['app-db', 'demo-connection']);
    expect(all.failures).toEqual([]);
  });

  it('the pgpass key logs in with psql (host, port, dbname and username from the Secret)', async (ctx) => {
    if (!psqlAvailable) ctx.skip('psql is not installed here (Debian package postgresql-client): the pgpass login is not checked');
    for (const { secret, user, db } of SECRETS) {
      expect(await psqlWithPgpass(suite, await secretData(secret)), secret).toBe(`${user}|${db}`);
    }
  });

  it('after a password rotation the new password logs in and the old one is refused', async () => {
    const before = await secretData('app-db');
    await suite.kube.patch(typeOfKind('NeonRole'), { namespace: suite.namespace, name: 'app' }, { metadata: { annotations: { 'neon-operator.dev/rotate-password': 'login-test' } } }, { type: 'merge' });
    await eventually('the rotation recorded', async () => {
      const role = await waitReady(suite, 'NeonRole', 'app');
      return (role.status?.['passwordRotation'] as { request?: string } | undefined)?.request === 'login-test' ? role : undefined;
    }, 90_000);
    const after = await secretData('app-db');
    expect(after['password']).not.toBe(before['password']);
    for (const key of URI_KEYS) {
      expect(await whoAmI(suite, after[key] ?? ''), `new ${key}`).toEqual({ user: 'app', db: 'app' });
      expect(await loginFailure(suite, before[key] ?? ''), `old ${key}`).toBe('28P01');
    }
  });

  it("after the dev branch is restored from main through the Neon API, dev holds main's data", async () => {
    const owner = await secretData('demo-connection');
    const app = await secretData('app-db');
    // A branch starts with its parent's roles: the owner logs in on dev's compute with main's password.
    const onDev = new URL(owner['uri'] ?? '');
    onDev.hostname = app['host'] ?? '';
    const devUri = onDev.toString();
    const mainUri = owner['uri'] ?? '';
    expect(await whoAmI(suite, devUri)).toEqual({ user: 'neondb_owner', db: 'neondb' });

    const access = computeAccess(suite);
    const notes = async (uri: string) => (await queryWithUri<{ body: string }>(access, uri, 'select body from notes order by body')).map((r) => r.body);
    // dev was branched before this table existed on main.
    await queryWithUri(access, mainUri, "create table notes (body text); insert into notes values ('written on main')");
    await queryWithUri(access, devUri, "create table notes (body text); insert into notes values ('written on dev')");
    expect(await notes(devUri)).toEqual(['written on dev']);

    const projectId = String((await waitReady(suite, 'NeonProject', 'demo')).status?.['projectId']);
    const devId = String((await waitReady(suite, 'NeonBranch', 'dev')).status?.['branchId']);
    const mainId = [...(suite.emulator.state.projects.get(projectId)?.branches.values() ?? [])].find((b) => b.isDefault)?.id;
    const api = new RawClient(suite.emulator.url, API_KEY);
    const restore = await eventually('restore accepted', async () => {
      const res = await api.post(`/projects/${projectId}/branches/${devId}/restore`, { source_branch_id: mainId });
      return res.status === 423 ? undefined : res;
    });
    expect(restore.status).toBe(200);
    expect(await notes(devUri)).toEqual(['written on main']);
    expect(await notes(mainUri)).toEqual(['written on main']);

    // Main has neither the app role nor the app database, so the restore took them from dev, as in Neon.
    // The operator puts them back on a resync, with a new password in the Secret, which logs in.
    await eventually('the app Secret logs in again', async () => {
      const data = await secretData('app-db');
      const who = await whoAmI(suite, data['uri'] ?? '');
      return who.user === 'app' && who.db === 'app' ? who : undefined;
    }, 90_000);
    const all = await readySecretLogins(suite);
    expect(all.failures).toEqual([]);
  });
});
