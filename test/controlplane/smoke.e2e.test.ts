// Proves the test control plane is the real thing: admission with CEL rules, the status subresource, watches,
// garbage collection and namespace deletion by the controller manager, RBAC for a ServiceAccount token, and
// kubectl against the admin kubeconfig.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  RbacAuthorizationV1Api,
  Watch,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { useControlPlane } from './e2e.ts';

const execFileAsync = promisify(execFile);
const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'smoke-crds');
const widgets = { group: 'smoke.controlplane.test', version: 'v1', plural: 'widgets' } as const;

const widgetSchema = z.looseObject({
  metadata: z.object({ name: z.string(), uid: z.string(), resourceVersion: z.string() }),
  spec: z.object({ size: z.number() }),
  status: z.object({ phase: z.string().optional() }).optional(),
});

/** Polls until `check` holds; fails the test after `timeoutMs` with `what` in the message. */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** The HTTP status of a failed call, or throws what is not an API error. */
async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

/**
 * Starts a watch, retrying while the API server refuses it: right after a CRD is Established, its watch cache
 * may still be initialising and a watch gets 429 (informers retry the same way).
 */
async function startWatch(
  kc: KubeConfig,
  path: string,
  onEvent: (type: string, obj: unknown) => void,
): Promise<AbortController> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    let failure: unknown;
    // client-node calls `done` before `watch` returns when the request itself fails (non-200 status).
    const abort = await new Watch(kc).watch(path, {}, onEvent, (err: unknown) => {
      failure ??= err ?? 'closed';
    });
    if (failure === undefined) return abort;
    if (Date.now() > deadline) throw new Error(`could not start a watch on ${path}: ${String(failure)}`);
    await sleep(200);
  }
}

describe('test control plane', () => {
  const cp = useControlPlane();
  const core = cp.kubeconfig.makeApiClient(CoreV1Api);
  const custom = cp.kubeconfig.makeApiClient(CustomObjectsApi);
  const rbac = cp.kubeconfig.makeApiClient(RbacAuthorizationV1Api);
  const namespace = `smoke-${randomBytes(4).toString('hex')}`;
  const events: { type: string; name: string; phase: string | undefined }[] = [];
  let watchAbort: AbortController | undefined;

  beforeAll(async () => {
    expect(await cp.installCrds(fixtures)).toEqual(['widgets.smoke.controlplane.test']);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    watchAbort = await startWatch(
      cp.kubeconfig,
      `/apis/${widgets.group}/${widgets.version}/namespaces/${namespace}/${widgets.plural}`,
      (type, obj) => {
        const parsed = widgetSchema.safeParse(obj);
        if (parsed.success) events.push({ type, name: parsed.data.metadata.name, phase: parsed.data.status?.phase });
      },
    );
  });

  afterAll(async () => {
    watchAbort?.abort();
    // The last test deletes the namespace; this only cleans up after an earlier failure.
    await statusOf(core.deleteNamespace({ name: namespace }));
  });

  it('rejects an object that breaks the CRD CEL rule, with the rule message', async () => {
    const err: unknown = await custom
      .createNamespacedCustomObject({
        ...widgets,
        namespace,
        body: { apiVersion: 'smoke.controlplane.test/v1', kind: 'Widget', metadata: { name: 'too-big' }, spec: { size: 11 } },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(ApiException);
    expect((err as ApiException<unknown>).code).toBe(422);
    const body: unknown = (err as ApiException<unknown>).body;
    expect(typeof body === 'string' ? body : JSON.stringify(body)).toContain('size must be at most 10');
  });

  it('updates status only through the status subresource, and the watch sees it', async () => {
    await custom.createNamespacedCustomObject({
      ...widgets,
      namespace,
      body: { apiVersion: 'smoke.controlplane.test/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } },
    });
    const created = widgetSchema.parse(await custom.getNamespacedCustomObject({ ...widgets, namespace, name: 'w1' }));
    const withStatus = await custom.replaceNamespacedCustomObjectStatus({
      ...widgets,
      namespace,
      name: 'w1',
      body: { ...created, status: { phase: 'Ready' } },
    });
    expect(widgetSchema.parse(withStatus).status?.phase).toBe('Ready');

    // Writing status through the main resource is ignored when a status subresource exists.
    const current = widgetSchema.parse(await custom.getNamespacedCustomObject({ ...widgets, namespace, name: 'w1' }));
    const replaced = await custom.replaceNamespacedCustomObject({
      ...widgets,
      namespace,
      name: 'w1',
      body: { ...current, spec: { size: 4 }, status: { phase: 'Hacked' } },
    });
    expect(widgetSchema.parse(replaced).spec.size).toBe(4);
    expect(widgetSchema.parse(replaced).status?.phase).toBe('Ready');

    // A stale resourceVersion is a conflict.
    expect(
      await statusOf(
        custom.replaceNamespacedCustomObject({ ...widgets, namespace, name: 'w1', body: { ...current, spec: { size: 5 } } }),
      ),
    ).toBe(409);

    await eventually('the watch to see w1 added and its status set', async () =>
      events.some((e) => e.type === 'ADDED' && e.name === 'w1') &&
      events.some((e) => e.type === 'MODIFIED' && e.name === 'w1' && e.phase === 'Ready'),
    );
  });

  it('garbage-collects a Secret owned by a custom object when the owner is deleted', async () => {
    const owner = widgetSchema.parse(await custom.getNamespacedCustomObject({ ...widgets, namespace, name: 'w1' }));
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: {
          name: 'w1-secret',
          ownerReferences: [
            {
              apiVersion: 'smoke.controlplane.test/v1',
              kind: 'Widget',
              name: owner.metadata.name,
              uid: owner.metadata.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        stringData: { password: 'not-a-real-secret' },
      },
    });
    await custom.deleteNamespacedCustomObject({ ...widgets, namespace, name: 'w1' });
    await eventually('the owned Secret to be garbage-collected', async () =>
      (await statusOf(core.readNamespacedSecret({ namespace, name: 'w1-secret' }))) === 404,
    );
    await eventually('the watch to see w1 deleted', async () =>
      events.some((e) => e.type === 'DELETED' && e.name === 'w1'),
    );
  });

  it('gives a ServiceAccount token only what its RBAC allows', async () => {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'reader' } } });
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: 'configmap-reader' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmap-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace }],
      },
    });
    const sa = await cp.mintServiceAccountKubeconfig(namespace, 'reader');
    const saCore = sa.kubeconfig.makeApiClient(CoreV1Api);
    // The RBAC authorizer reads bindings from an informer: allow it a moment to see the new binding.
    await eventually('the RoleBinding to take effect', async () =>
      (await statusOf(saCore.listNamespacedConfigMap({ namespace }))) === 200,
    );
    expect(await statusOf(saCore.listNamespacedSecret({ namespace }))).toBe(403);
    expect(
      await statusOf(saCore.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'nope' } } })),
    ).toBe(403);
    expect(await statusOf(saCore.listNamespacedConfigMap({ namespace: 'default' }))).toBe(403);

    const canI = await execFileAsync('kubectl', [
      `--kubeconfig=${sa.kubeconfigPath}`, 'auth', 'can-i', 'list', 'secrets', '-n', namespace,
    ]).then(
      (r) => r.stdout.trim(),
      (e: unknown) => String((e as { stdout?: string }).stdout ?? '').trim(),
    );
    expect(canI).toBe('no');
  });

  it('works with kubectl and the admin kubeconfig', async () => {
    const { stdout } = await execFileAsync('kubectl', [
      `--kubeconfig=${cp.kubeconfigPath}`, 'get', 'namespace', namespace, '-o', 'jsonpath={.status.phase}',
    ]);
    expect(stdout).toBe('Active');
  });

  it('removes what is in a namespace when the namespace is deleted', async () => {
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'cm' }, data: { a: 'b' } } });
    await custom.createNamespacedCustomObject({
      ...widgets,
      namespace,
      body: { apiVersion: 'smoke.controlplane.test/v1', kind: 'Widget', metadata: { name: 'w2' }, spec: { size: 1 } },
    });
    await core.deleteNamespace({ name: namespace });
    await eventually(
      'the namespace and its contents to be deleted',
      async () => (await statusOf(core.readNamespace({ name: namespace }))) === 404,
      120_000,
    );
    expect(await statusOf(core.readNamespacedConfigMap({ namespace, name: 'cm' }))).toBe(404);
    expect(await statusOf(custom.getNamespacedCustomObject({ ...widgets, namespace, name: 'w2' }))).toBe(404);
  });
});
