// The generated CRDs on a real kube-apiserver: the schemas, defaults, CEL rules (including the transition
// rules only the API server can check), the status subresource, `kubectl explain` and `kubectl get neon`.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ApiException, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifests } from '../../test/controlplane/kube-access.ts';
import { useControlPlane } from '../../test/controlplane/e2e.ts';
import { API_GROUP, API_GROUP_VERSION, API_VERSION } from './group.ts';
import { allKinds } from './kinds.ts';
import { ResourceParseError } from './resource.ts';

const execFileAsync = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..');

type Kind = (typeof allKinds)[number];
function kindOf(name: string): Kind {
  const k = allKinds.find((x) => x.kind === name);
  if (!k) throw new Error(`unknown kind ${name}`);
  return k;
}

/** The API server's message for a refused call (the `message` of its Status body); throws if it succeeded. */
async function rejection(call: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body: unknown = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    return { code: err.code, message: String((body as { message?: unknown }).message ?? '') };
  }
  throw new Error('the API server accepted the object');
}

/** The paths zod reports for an object, to compare with the API server's. */
function zodPaths(kind: string, obj: unknown): string[] {
  try {
    kindOf(kind).parse(obj);
    return [];
  } catch (err) {
    if (!(err instanceof ResourceParseError)) throw err;
    return err.issues.map((i) => i.path);
  }
}

async function eventually<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

describe('the generated CRDs on a real API server', () => {
  const cp = useControlPlane();
  const custom = cp.kubeconfig.makeApiClient(CustomObjectsApi);
  const core = cp.kubeconfig.makeApiClient(CoreV1Api);
  const namespace = `crds-${randomBytes(4).toString('hex')}`;
  // kubectl caches discovery per server; a cache filled before the CRDs existed would hide them (and the
  // `neon` category) for hours, so installing and querying use separate caches.
  const kubectlWithCache = (cache: string) => (...args: string[]) =>
    execFileAsync('kubectl', [`--kubeconfig=${cp.kubeconfigPath}`, `--cache-dir=${join(cp.workDir, cache)}`, ...args]).then(
      (r) => r.stdout,
    );
  const kubectlInstall = kubectlWithCache(`kubectl-install-${namespace}`);
  const kubectl = kubectlWithCache(`kubectl-${namespace}`);

  const create = (kind: string, name: string, spec: Record<string, unknown>) =>
    custom.createNamespacedCustomObject({
      group: API_GROUP,
      version: API_VERSION,
      namespace,
      plural: kindOf(kind).plural,
      body: { apiVersion: API_GROUP_VERSION, kind, metadata: { name }, spec },
    }) as Promise<unknown>;
  const jsonPatch = (kind: string, name: string, ops: object[]) =>
    custom.patchNamespacedCustomObject({
      group: API_GROUP,
      version: API_VERSION,
      namespace,
      plural: kindOf(kind).plural,
      name,
      body: ops,
    }) as Promise<unknown>;

  beforeAll(async () => {
    // Installed the way users install them. (The harness's installCrds sends objects through
    // @kubernetes/client-node's typed serializer, which drops `default` and `x-kubernetes-validations`.)
    const crdNames = allKinds.map((k) => `crd/${k.plural}.${API_GROUP}`);
    await kubectlInstall('apply', '--server-side', '--force-conflicts', '--field-manager=neon-operator-crds-test', '-f', join(root, 'crds'));
    await kubectlInstall('wait', '--for=condition=Established', '--timeout=60s', ...crdNames);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });

  afterAll(async () => {
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it('accepts the examples, applies the defaults zod applies, and the operator can parse what it reads back', async () => {
    const examples = await readManifests(join(root, 'examples', 'basic'));
    expect(examples.length).toBe(5);
    for (const obj of examples) {
      const kind = kindOf(obj.kind ?? '');
      const created = await custom.createNamespacedCustomObject({
        group: API_GROUP, version: API_VERSION, namespace, plural: kind.plural, body: obj,
      }) as unknown;
      const parsed = kind.parse(created);
      // The API server's defaulting and zod's defaults agree.
      expect((created as { spec: unknown }).spec).toEqual(parsed.spec);
      expect(parsed.spec.deletionPolicy).toBe('Delete');
    }
    const role = kindOf('NeonRole').parse(
      await custom.getNamespacedCustomObject({ group: API_GROUP, version: API_VERSION, namespace, plural: 'neonroles', name: 'app' }),
    );
    expect(role.metadata.uid).toBeTruthy();
  });

  it('defaults deletionPolicy to Retain for projects and Delete otherwise, endpoint type to read_write', async () => {
    const project = kindOf('NeonProject').parse(await create('NeonProject', 'defaults', {}));
    expect(project.spec.deletionPolicy).toBe('Retain');
    const ep = kindOf('NeonEndpoint').parse(
      await create('NeonEndpoint', 'defaults', { projectId: 'p-1', branchId: 'br-1', apiKeySecretRef: { name: 'neon' } }),
    );
    expect(ep.spec).toMatchObject({ deletionPolicy: 'Delete', type: 'read_write', apiKeySecretRef: { name: 'neon', key: 'api-key' } });
  });

  const invalid: { what: string; kind: string; spec: Record<string, unknown>; field: string; says: RegExp }[] = [
    {
      what: 'min CU above max CU',
      kind: 'NeonEndpoint',
      spec: { branchRef: { name: 'b' }, autoscaling: { minCu: 4, maxCu: 1 } },
      field: 'spec.autoscaling.minCu',
      says: /autoscaling\.minCu must be less than or equal to autoscaling\.maxCu/,
    },
    {
      what: 'min CU above max CU in the project defaults',
      kind: 'NeonProject',
      spec: { defaultEndpointSettings: { autoscaling: { minCu: 2, maxCu: 0.5 } } },
      field: 'spec.defaultEndpointSettings.autoscaling.minCu',
      says: /minCu must be less than or equal/,
    },
    {
      what: 'both projectRef and projectId',
      kind: 'NeonBranch',
      spec: { projectRef: { name: 'p' }, projectId: 'p-1' },
      field: 'spec.projectRef',
      says: /exactly one of projectRef or projectId must be set/,
    },
    {
      what: 'no project at all',
      kind: 'NeonBranch',
      spec: { protected: true },
      field: 'spec.projectRef',
      says: /exactly one of projectRef or projectId must be set/,
    },
    {
      what: 'a branch named twice',
      kind: 'NeonDatabase',
      spec: { branchRef: { name: 'b' }, projectRef: { name: 'p' }, ownerName: 'o' },
      field: 'spec.branchRef',
      says: /exactly one of branchRef, projectRef, or projectId with branchId must be set/,
    },
    {
      what: 'projectId without branchId',
      kind: 'NeonRole',
      spec: { projectId: 'p-1', databaseName: 'neondb' },
      field: 'spec.branchId',
      says: /projectId and branchId must be set together/,
    },
    {
      what: 'two owners',
      kind: 'NeonDatabase',
      spec: { branchRef: { name: 'b' }, ownerRef: { name: 'r' }, ownerName: 'r' },
      field: 'spec.ownerRef',
      says: /exactly one of ownerRef or ownerName must be set/,
    },
    {
      what: 'a bad endpoint type',
      kind: 'NeonEndpoint',
      spec: { branchRef: { name: 'b' }, type: 'primary' },
      field: 'spec.type',
      says: /Unsupported value: "primary": supported values: "read_write", "read_only"/,
    },
    {
      what: 'a suspend timeout Neon refuses',
      kind: 'NeonEndpoint',
      spec: { branchRef: { name: 'b' }, suspendTimeoutSeconds: 30 },
      field: 'spec.suspendTimeoutSeconds',
      says: /suspendTimeoutSeconds must be -1, 0, or between 60 and 604800/,
    },
    {
      what: 'an unsupported Postgres version',
      kind: 'NeonProject',
      spec: { pgVersion: 13 },
      field: 'spec.pgVersion',
      says: /should be greater than or equal to 14/,
    },
    {
      what: 'a malformed Neon ID',
      kind: 'NeonBranch',
      spec: { projectId: 'Not An ID' },
      field: 'spec.projectId',
      says: /should match/,
    },
    {
      what: 'both an LSN and a timestamp',
      kind: 'NeonBranch',
      spec: { projectId: 'p-1', parentLsn: '0/16B3748', parentTimestamp: '2026-01-01T00:00:00Z' },
      field: 'spec.parentLsn',
      says: /at most one of parentLsn or parentTimestamp may be set/,
    },
    {
      what: 'a timestamp that is not RFC 3339',
      kind: 'NeonBranch',
      spec: { projectId: 'p-1', expiresAt: 'tomorrow' },
      field: 'spec.expiresAt',
      says: /date-time/,
    },
    {
      what: 'a timestamp without a time zone',
      kind: 'NeonBranch',
      spec: { projectId: 'p-1', expiresAt: '2026-07-15T18:02:16' },
      field: 'spec.expiresAt',
      says: /date-time/,
    },
    {
      what: 'a timestamp with both Z and an offset',
      kind: 'NeonBranch',
      spec: { projectId: 'p-1', parentTimestamp: '2026-07-15T18:02:16Z-05:00' },
      field: 'spec.parentTimestamp',
      says: /date-time/,
    },
    {
      what: 'a compute size Neon does not offer',
      kind: 'NeonEndpoint',
      spec: { branchRef: { name: 'b' }, autoscaling: { minCu: 0.3, maxCu: 1 } },
      field: 'spec.autoscaling.minCu',
      says: /must be one of Neon's compute sizes: 0\.25, 0\.5, 1 to 16 in steps of 1, or 18 to 56 in steps of 2/,
    },
    {
      what: 'a compute larger than Neon\'s largest',
      kind: 'NeonEndpoint',
      spec: { branchRef: { name: 'b' }, autoscaling: { minCu: 1, maxCu: 100 } },
      field: 'spec.autoscaling.maxCu',
      says: /should be less than or equal to 56/,
    },
    {
      what: 'an autoscaling range above 16 CU',
      kind: 'NeonEndpoint',
      spec: { branchRef: { name: 'b' }, autoscaling: { minCu: 12, maxCu: 18 } },
      field: 'spec.autoscaling.maxCu',
      says: /autoscaling\.maxCu can be at most 16 when it differs from minCu/,
    },
    {
      what: 'an autoscaling range wider than 8 CU in the project defaults',
      kind: 'NeonProject',
      spec: { defaultEndpointSettings: { autoscaling: { minCu: 1, maxCu: 10 } } },
      field: 'spec.defaultEndpointSettings.autoscaling.maxCu',
      says: /autoscaling\.maxCu can be at most 8 CU above autoscaling\.minCu/,
    },
    {
      what: 'a role name of 32 characters and 64 bytes',
      kind: 'NeonRole',
      spec: { branchRef: { name: 'b' }, databaseName: 'neondb', name: 'é'.repeat(32) },
      field: 'spec.name',
      says: /must be at most 63 bytes in UTF-8/,
    },
    {
      what: 'a database owner name over 63 bytes',
      kind: 'NeonDatabase',
      spec: { branchRef: { name: 'b' }, ownerName: '日本'.repeat(11) },
      field: 'spec.ownerName',
      says: /must be at most 63 bytes in UTF-8/,
    },
  ];

  it('needs spec.name on a NeonRole or NeonDatabase whose metadata.name is too long for Postgres', async () => {
    const long = 'a'.repeat(64);
    const roleErr = await rejection(create('NeonRole', long, { branchRef: { name: 'b' }, databaseName: 'neondb' }));
    expect(roleErr.message).toMatch(/spec\.name: .*must be set when metadata\.name is longer than 63 characters/);
    const dbErr = await rejection(create('NeonDatabase', long, { branchRef: { name: 'b' }, ownerName: 'o' }));
    expect(dbErr.message).toMatch(/spec\.name: .*must be set when metadata\.name is longer than 63 characters/);
    await create('NeonDatabase', long, { branchRef: { name: 'b' }, ownerName: 'o', name: 'short' });
  });

  it.each(invalid)('rejects $what, naming $field (and zod names it too)', async ({ kind, spec, field, says }) => {
    const name = `bad-${randomBytes(3).toString('hex')}`;
    const { code, message } = await rejection(create(kind, name, spec));
    expect(code).toBe(422);
    expect(message).toContain(`${field}:`);
    expect(message).toMatch(says);
    const obj = { apiVersion: API_GROUP_VERSION, kind, metadata: { name }, spec };
    expect(zodPaths(kind, obj)).toContain(field);
  });

  it("accepts Neon's limits themselves: 63 bytes of name, a fixed 56 CU compute, an 8 CU range up to 16 CU", async () => {
    await create('NeonRole', 'bytes', { branchRef: { name: 'b' }, databaseName: 'neondb', name: 'é'.repeat(31) + 'a' });
    await create('NeonEndpoint', 'fixed-56', { branchRef: { name: 'b' }, autoscaling: { minCu: 56, maxCu: 56 } });
    await create('NeonEndpoint', 'range-8', { branchRef: { name: 'b' }, autoscaling: { minCu: 8, maxCu: 16 } });
    await create('NeonBranch', 'zoned', { projectId: 'p-1', expiresAt: '2026-07-15T18:02:16+09:00', parentTimestamp: '2026-07-15T18:02:16.5Z' });
  });

  it('refuses changes to immutable fields, naming the field', async () => {
    await create('NeonProject', 'imm', { regionId: 'aws-us-east-2', pgVersion: 17 });
    const region = await rejection(jsonPatch('NeonProject', 'imm', [{ op: 'replace', path: '/spec/regionId', value: 'aws-eu-central-1' }]));
    expect(region.message).toMatch(/spec\.regionId: .*regionId is immutable/);
    const pg = await rejection(jsonPatch('NeonProject', 'imm', [{ op: 'remove', path: '/spec/pgVersion' }]));
    expect(pg.message).toMatch(/spec\.pgVersion: .*pgVersion is immutable/);
    const org = await rejection(jsonPatch('NeonProject', 'imm', [{ op: 'add', path: '/spec/orgId', value: 'org-1' }]));
    expect(org.message).toMatch(/spec\.orgId: .*orgId is immutable/);
    // What may change does.
    await jsonPatch('NeonProject', 'imm', [{ op: 'add', path: '/spec/historyRetentionSeconds', value: 3600 }]);

    await create('NeonBranch', 'imm', { projectRef: { name: 'imm' }, parentLsn: '0/16B3748' });
    const project = await rejection(jsonPatch('NeonBranch', 'imm', [{ op: 'replace', path: '/spec/projectRef/name', value: 'other' }]));
    expect(project.message).toMatch(/spec\.projectRef: .*projectRef is immutable/);
    const parent = await rejection(jsonPatch('NeonBranch', 'imm', [{ op: 'add', path: '/spec/parentId', value: 'br-1' }]));
    expect(parent.message).toMatch(/spec\.parentId: .*parentId is immutable/);
    const lsn = await rejection(jsonPatch('NeonBranch', 'imm', [{ op: 'replace', path: '/spec/parentLsn', value: '0/16B3749' }]));
    expect(lsn.message).toMatch(/spec\.parentLsn: .*parentLsn is immutable/);
    await jsonPatch('NeonBranch', 'imm', [{ op: 'add', path: '/spec/protected', value: true }]);
    const masking = { maskingRules: [{ databaseName: 'neondb', schemaName: 'public', tableName: 'users', columnName: 'email', maskingValue: 'x' }] };
    const anonymize = await rejection(jsonPatch('NeonBranch', 'imm', [{ op: 'add', path: '/spec/anonymization', value: masking }]));
    expect(anonymize.message).toMatch(/spec\.anonymization: .*anonymization can only be set when the branch is created/);
    await create('NeonBranch', 'masked', { projectRef: { name: 'imm' }, anonymization: masking });
    const unmask = await rejection(jsonPatch('NeonBranch', 'masked', [{ op: 'remove', path: '/spec/anonymization' }]));
    expect(unmask.message).toMatch(/anonymization can only be set when the branch is created/);
    // The rules themselves may change (Neon's are replaced); a rule needs a masking function or value.
    await jsonPatch('NeonBranch', 'masked', [{ op: 'replace', path: '/spec/anonymization/maskingRules/0/maskingValue', value: 'y' }]);
    const noMask = await rejection(jsonPatch('NeonBranch', 'masked', [{ op: 'remove', path: '/spec/anonymization/maskingRules/0/maskingValue' }]));
    expect(noMask.message).toMatch(/spec\.anonymization\.maskingRules\[0\]\.maskingFunction: .*set maskingFunction or maskingValue/);

    await create('NeonEndpoint', 'imm', { branchRef: { name: 'imm' } });
    const type = await rejection(jsonPatch('NeonEndpoint', 'imm', [{ op: 'replace', path: '/spec/type', value: 'read_only' }]));
    expect(type.message).toMatch(/spec\.type: .*type is immutable/);
    const branch = await rejection(jsonPatch('NeonEndpoint', 'imm', [{ op: 'replace', path: '/spec/branchRef/name', value: 'x' }]));
    expect(branch.message).toMatch(/spec\.branchRef: .*branchRef is immutable/);
    await jsonPatch('NeonEndpoint', 'imm', [{ op: 'add', path: '/spec/autoscaling', value: { minCu: 1, maxCu: 2 } }]);

    await create('NeonRole', 'imm', { branchRef: { name: 'imm' }, name: 'app', databaseName: 'neondb' });
    const roleName = await rejection(jsonPatch('NeonRole', 'imm', [{ op: 'replace', path: '/spec/name', value: 'app2' }]));
    expect(roleName.message).toMatch(/spec\.name: .*spec\.name \(the Postgres role name, default metadata\.name\) is immutable/);
    // The role name defaults to metadata.name: writing that default out is no change, writing another name is.
    await create('NeonRole', 'implicit', { branchRef: { name: 'imm' }, databaseName: 'neondb' });
    await jsonPatch('NeonRole', 'implicit', [{ op: 'add', path: '/spec/name', value: 'implicit' }]);
    const renamed = await rejection(jsonPatch('NeonRole', 'implicit', [{ op: 'replace', path: '/spec/name', value: 'other' }]));
    expect(renamed.message).toMatch(/spec\.name: .*is immutable/);

    await create('NeonProject', 'logical', { settings: { enableLogicalReplication: true } });
    const logical = await rejection(
      jsonPatch('NeonProject', 'logical', [{ op: 'replace', path: '/spec/settings/enableLogicalReplication', value: false }]),
    );
    expect(logical.message).toMatch(/spec\.settings\.enableLogicalReplication: .*cannot be disabled once enabled/);
  });

  it('stores a status written through the /status subresource, and the operator parses it', async () => {
    await create('NeonBranch', 'with-status', { projectId: 'p-1' });
    const status = {
      observedGeneration: 1,
      conditions: [
        { type: 'Ready', status: 'False', reason: 'ProjectNotReady', message: 'waiting for NeonProject demo', lastTransitionTime: '2026-11-29T20:00:00Z', observedGeneration: 1 },
      ],
      pendingCreate: { startedAt: '2026-11-29T20:00:01Z', name: 'with-status' },
      projectId: 'p-1',
    };
    const written = await custom.patchNamespacedCustomObjectStatus({
      group: API_GROUP, version: API_VERSION, namespace, plural: 'neonbranches', name: 'with-status',
      body: [{ op: 'add', path: '/status', value: status }],
    }) as unknown;
    expect(kindOf('NeonBranch').parse(written).status).toEqual(status);
    const bad = await rejection(
      custom.patchNamespacedCustomObjectStatus({
        group: API_GROUP, version: API_VERSION, namespace, plural: 'neonbranches', name: 'with-status',
        body: [{ op: 'replace', path: '/status/conditions/0/status', value: 'Maybe' }],
      }),
    );
    expect(bad.message).toContain('status.conditions[0].status');
  });

  it('lists every kind with `kubectl get neon`, by short name, with the printer columns', async () => {
    const names = (await kubectl('get', 'neon', '-n', namespace, '-o', 'name')).trim().split('\n');
    for (const k of allKinds) expect(names.some((n) => n.startsWith(`${k.singular}.${API_GROUP}/`)), k.kind).toBe(true);
    for (const k of allKinds) {
      const table = await kubectl('get', k.shortNames[0] ?? '', '-n', namespace);
      const header = table.split('\n')[0] ?? '';
      for (const c of k.printerColumns.filter((c) => !c.priority)) expect(header, k.kind).toContain(c.name.toUpperCase());
    }
  });

  it('shows the descriptions with `kubectl explain`', async () => {
    // The API server publishes a new CRD's OpenAPI a moment after it is Established.
    const spec = await eventually('kubectl explain neonbranch.spec', async () => {
      const out = await kubectl('explain', 'neonbranch.spec');
      return out.includes('projectRef') ? out : undefined;
    });
    expect(spec).toContain('Desired state of the Neon branch');
    expect(spec).toMatch(/parentTimestamp\s+<string>/);
    expect(spec).toContain('The project, as a NeonProject in the same namespace');
    const cu = await kubectl('explain', 'neonendpoint.spec.autoscaling.minCu');
    expect(cu).toContain('Minimum size of the compute in Compute Units');
  });
});
