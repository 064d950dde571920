// examples/argocd-preview: the ApplicationSet's per-pull-request rendering (its Go-template parameters and
// kustomize settings applied the way Argo CD applies them) is valid for kubeconform -strict, parses with the
// operator's own schemas, is accepted by the API server, and really works for two pull requests at once: the
// operator (chart RBAC, namespaced to the previews) makes each preview's masked (anonymized) branch, its child
// branch with a TTL, a compute that scales to zero, the role and the Secret the app reads with envFrom; Argo CD's
// health check calls them Healthy; a new commit resets that pull request's branch from the masked one (and only
// that one); closing a pull request deletes its branches in Neon. Every check reads Neon's state in the emulator.
// The ApplicationSet itself has no schema offline (Argo CD's CRDs are not here): it is checked by shape.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { allKinds } from '../../../src/api/kinds.ts';
import { coreResources, httpTransport, KubeClient, type SecretObject } from '../../../src/runtime/index.ts';
import { buildRunner, runHealthChecks } from '../../argocd/lua-runner.ts';
import { anonymizationOf, anonymizationState } from '../../emulator/anonymized.ts';
import { restoresOf } from '../../emulator/restore.ts';
import { repoRoot } from '../../controlplane/binaries.ts';
import { useControlPlane } from '../../controlplane/e2e.ts';
import { startEmulator, type EmulatorHandle } from '../../emulator/server.ts';
import { eventually, FAST_DURATIONS, kindTypes, readyCondition, type NeonObject } from '../operator/fixture.ts';
import { installChartRbac, startOperatorProcess, uniqueName } from './install.ts';
import { ensureNamespaces, Kubeconform, kubectl, parseManifests, type Manifest } from './tools.ts';

const cp = useControlPlane();
const admin = new KubeClient(httpTransport(cp.kubeconfig, { userAgent: 'shipping-e2e' }));
const exampleDir = join(repoRoot, 'examples', 'argocd-preview');
const PLACEHOLDER_PROJECT = 'replace-with-your-project-id';

const applicationSetSchema = z.object({
  apiVersion: z.literal('argoproj.io/v1alpha1'),
  kind: z.literal('ApplicationSet'),
  metadata: z.object({ name: z.string(), namespace: z.string() }),
  spec: z.object({
    goTemplate: z.literal(true),
    generators: z.array(z.object({ pullRequest: z.looseObject({ requeueAfterSeconds: z.number().optional() }) })).length(1),
    template: z.object({
      metadata: z.object({ name: z.string(), finalizers: z.array(z.string()) }),
      spec: z.object({
        project: z.string(),
        source: z.object({
          repoURL: z.string(),
          targetRevision: z.string(),
          path: z.string(),
          kustomize: z.object({
            images: z.array(z.string()),
            patches: z.array(z.object({ target: z.object({ group: z.string(), kind: z.string(), name: z.string() }), patch: z.string() })),
          }),
        }),
        destination: z.object({ server: z.string(), namespace: z.string() }),
        syncPolicy: z.object({ automated: z.object({ prune: z.boolean(), selfHeal: z.boolean() }), syncOptions: z.array(z.string()) }),
      }),
    }),
  }),
});
type ApplicationTemplate = z.infer<typeof applicationSetSchema>['spec']['template'];

const DAY_MS = 24 * 3600 * 1000;
/** `dateInZone "2006-01-02" (now | dateModify "<N>h") "UTC"`: the only Sprig pipeline the example uses. */
const DATE_IN_DAYS = /\{\{\s*dateInZone "2006-01-02" \(now \| dateModify "(\d+)h"\) "UTC"\s*\}\}/g;

/**
 * The pull-request generator's parameters substituted into the template, as Argo CD's Go templating does, with
 * the Sprig date functions the example uses evaluated at `now`.
 */
function renderTemplate(template: ApplicationTemplate, params: Record<string, string>, now = Date.now()): ApplicationTemplate {
  const render = (text: string): string =>
    text
      .replace(DATE_IN_DAYS, (_m, hours: string) => new Date(now + Number(hours) * 3600 * 1000).toISOString().slice(0, 10))
      .replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_m, name: string) => {
        const value = params[name];
        if (value === undefined) throw new Error(`missingkey=error: {{.${name}}}`);
        return value;
      });
  return JSON.parse(JSON.stringify(template), (_k, v: unknown) => (typeof v === 'string' ? render(v) : v)) as ApplicationTemplate;
}

/** Builds what Argo CD builds for one Application: the app/ folder with the Application's kustomize settings. */
async function kustomizeLikeArgoCd(app: ApplicationTemplate, workDir: string): Promise<string> {
  const overlay = await mkdtemp(join(workDir, 'preview-overlay-'));
  const images = app.spec.source.kustomize.images.map((spec) => {
    const m = /^([^=]+)=(.+):([^:/]+)$/.exec(spec);
    if (!m?.[1] || !m[2] || !m[3]) throw new Error(`image override ${spec}`);
    return { name: m[1], newName: m[2], newTag: m[3] };
  });
  await writeFile(
    join(overlay, 'kustomization.yaml'),
    stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      namespace: app.spec.destination.namespace,
      resources: [relative(overlay, join(repoRoot, app.spec.source.path))],
      images,
      patches: app.spec.source.kustomize.patches,
    }),
  );
  const r = await kubectl(cp, ['kustomize', overlay]);
  if (r.code !== 0) throw new Error(`kustomize failed: ${r.stderr}`);
  return r.stdout;
}

describe('examples/argocd-preview', () => {
  const first = 1000 + Math.floor(Math.random() * 8000);
  const prs = [String(first), String(first + 1)];
  const sha = (n: number) => `c0ffee${String(n).padStart(2, '0')}34567890c0ffee1234567890c0ffee12`.slice(0, 40);
  let appSet: z.infer<typeof applicationSetSchema>;
  let app: ApplicationTemplate;
  let rendered: string;
  let objects: Manifest[];
  const now = Date.now();
  const expiry = `${new Date(now + 7 * DAY_MS).toISOString().slice(0, 10)}T00:00:00Z`;
  /** What Argo CD applies for pull request `number` at commit `headSha`. */
  const render = async (number: string, headSha: string) =>
    kustomizeLikeArgoCd(renderTemplate(appSet.spec.template, { number, head_sha: headSha }, now), cp.workDir);

  beforeAll(async () => {
    appSet = applicationSetSchema.parse(parse(await readFile(join(exampleDir, 'applicationset.yaml'), 'utf8')));
    app = renderTemplate(appSet.spec.template, { number: prs[0]!, head_sha: sha(1) }, now);
    rendered = await kustomizeLikeArgoCd(app, cp.workDir);
    objects = parseManifests(rendered);
    await buildRunner();
  }, 300_000);

  it('renders one namespaced preview per pull request: a masked branch, its child reset per commit, TTLs, the commit image', () => {
    const number = prs[0];
    expect(app.metadata.name).toBe(`preview-${number}`);
    expect(app.spec.destination.namespace).toBe(`preview-${number}`);
    expect(app.spec.syncPolicy.syncOptions).toContain('CreateNamespace=true');
    expect(app.metadata.finalizers).toContain('resources-finalizer.argocd.argoproj.io');
    expect(rendered).not.toContain('{{');
    expect(objects.map((o) => o.kind).sort()).toEqual(['Deployment', 'NeonBranch', 'NeonBranch', 'NeonEndpoint', 'NeonRole']);
    for (const o of objects) expect(o.metadata.namespace).toBe(`preview-${number}`);
    type Branch = Manifest & { metadata: { annotations?: Record<string, string> }; spec: { name: string; expiresAt?: string; parentRef?: { name: string }; anonymization?: { maskingRules: unknown[] } } };
    const masked = objects.find((o) => o.kind === 'NeonBranch' && o.metadata.name === 'masked') as Branch | undefined;
    const preview = objects.find((o) => o.kind === 'NeonBranch' && o.metadata.name === 'preview') as Branch | undefined;
    expect(masked?.spec).toMatchObject({ name: `pr-${number}-masked`, expiresAt: expiry });
    expect(masked?.spec.anonymization?.maskingRules.length).toBeGreaterThan(0);
    expect(preview?.spec).toMatchObject({ name: `pr-${number}`, expiresAt: expiry, parentRef: { name: 'masked' } });
    expect(preview?.metadata.annotations?.['neon-operator.dev/reset-from-parent']).toBe(sha(1));
    const endpoint = objects.find((o) => o.kind === 'NeonEndpoint') as (Manifest & { spec: { branchRef: { name: string }; suspendTimeoutSeconds: number } }) | undefined;
    expect(endpoint?.spec).toMatchObject({ branchRef: { name: 'preview' }, suspendTimeoutSeconds: 300 });
    const deployment = objects.find((o) => o.kind === 'Deployment') as (Manifest & { spec: { template: { spec: { containers: { image: string; envFrom: { secretRef: { name: string } }[] }[] } } } }) | undefined;
    expect(deployment?.spec.template.spec.containers[0]?.image).toBe(`your-org/your-app:${sha(1)}`);
    // The app reads the very Secret the NeonRole writes, for a role on the preview branch.
    const role = objects.find((o) => o.kind === 'NeonRole') as (Manifest & { spec: { branchRef: { name: string }; secret: { name: string } } }) | undefined;
    expect(role?.spec.branchRef.name).toBe('preview');
    expect(deployment?.spec.template.spec.containers[0]?.envFrom).toEqual([{ secretRef: { name: role?.spec.secret.name } }]);
  });

  it('parses with the operator\'s own schemas and is valid for kubeconform -strict (nothing skipped)', async () => {
    for (const o of objects.filter((x) => x.apiVersion.startsWith('neon-operator.dev/'))) {
      const kind = allKinds.find((k) => k.kind === o.kind);
      expect(() => kind?.parse(o), o.kind).not.toThrow();
    }
    const kubeconform = await Kubeconform.forControlPlane(cp);
    const r = await kubeconform.validate(rendered);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`Valid: ${objects.length}, Invalid: 0, Errors: 0, Skipped: 0`);
  });

  it('is accepted by the API server (kubectl apply --dry-run=server)', async () => {
    await cp.installCrds(join(repoRoot, 'crds'));
    await ensureNamespaces(cp, [`preview-${prs[0]}`]);
    const r = await kubectl(cp, ['apply', '--dry-run=server', '--server-side', '--field-manager=argocd-controller', '-f', '-'], rendered);
    expect(r.code, r.stderr).toBe(0);
  });

  describe('run by the operator', () => {
    let emulator: EmulatorHandle;
    const apiKey = uniqueName('preview-key');
    afterAll(async () => {
      await emulator?.stop();
    });

    it('two pull requests: masked previews Ready and Healthy; a new commit resets one; closing one deletes its branches', async () => {
      emulator = await startEmulator({ seed: 13, durations: FAST_DURATIONS, validateRequests: true });
      // The shared project the previews branch from, made directly in Neon (the emulator).
      const created = await fetch(`${emulator.url}/projects`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ project: { name: 'shop' } }),
      });
      expect(created.status).toBe(201);
      const projectId = z.object({ project: z.object({ id: z.string() }) }).parse(await created.json()).project.id;
      const project = () => {
        const p = emulator.state.project(emulator.accountOf(apiKey), projectId);
        if (!p) throw new Error('the shared project is gone');
        return p;
      };
      const neonBranch = (name: string) => [...project().branches.values()].find((b) => b.name === name);
      const namespaces = prs.map((n) => `preview-${n}`);
      const install = await installChartRbac(cp, uniqueName('pv'), uniqueName('ship-pv-op'), {
        watch: { namespaces },
        neonApiKey: { existingSecret: 'neon-api-key', key: 'api-key' },
        // The shared project is named by ID with the operator's key: the preview namespaces are allowed to reach it.
        tenancy: { allowedProjects: [`preview-*/${projectId}`] },
      });
      const op = await startOperatorProcess(install, { podName: 'preview-operator', apiKey, neonApiUrl: emulator.url });
      const apply = async (number: string, headSha: string) => {
        const r = await kubectl(cp, ['apply', '--server-side', '--field-manager=argocd-controller', '-f', '-'], (await render(number, headSha)).replaceAll(PLACEHOLDER_PROJECT, projectId));
        expect(r.code, r.stderr).toBe(0);
      };
      const neonObjects = objects.filter((o) => o.apiVersion.startsWith('neon-operator.dev/'));
      /** The preview's Neon objects once all are Ready for their spec (and `check` holds), as Argo CD reads them. */
      const allReady = (namespace: string, check: (live: NeonObject[]) => boolean = () => true) =>
        eventually(`the Neon objects of ${namespace} Ready`, async () => {
          const out: NeonObject[] = [];
          for (const o of neonObjects) {
            const type = kindTypes[o.kind];
            if (!type) throw new Error(o.kind);
            const obj = await admin.get<NeonObject>(type, { namespace, name: o.metadata.name });
            const ready = readyCondition(obj);
            if (!obj || ready?.status !== 'True' || ready.observedGeneration !== obj.metadata?.generation) return undefined;
            out.push({ ...obj, apiVersion: o.apiVersion, kind: o.kind });
          }
          return check(out) ? out : undefined;
        }, 90_000, 300);
      const secretData = async (namespace: string) => {
        const secret = await admin.get<SecretObject>(coreResources.secret, { namespace, name: 'app-db' });
        return Object.fromEntries(Object.entries(secret?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
      };
      const closed = (namespace: string) =>
        eventually(`the Neon objects of ${namespace} gone`, async () => {
          const r = await kubectl(cp, ['get', '-n', namespace, 'neon', '-o', 'name']);
          return r.code === 0 && r.stdout.trim() === '' ? true : undefined;
        }, 90_000, 300);
      try {
        for (const number of prs) await apply(number, sha(1));
        for (const [i, number] of prs.entries()) {
          const namespace = namespaces[i]!;
          const live = await allReady(namespace);
          expect((await runHealthChecks(live)).map((h) => h.status)).toEqual(live.map(() => 'Healthy'));
          // Neon: the masked branch is anonymized (data masked before anything could connect), the preview is its child.
          const masked = neonBranch(`pr-${number}-masked`);
          const preview = neonBranch(`pr-${number}`);
          expect(masked && anonymizationState(anonymizationOf(masked)!, emulator.state.now())).toBe('anonymized');
          expect(preview?.parentId).toBe(masked?.id);
          expect(preview?.expiresAt).toBe(expiry);
          expect(masked?.expiresAt).toBe(expiry);
          expect(emulator.state.endpointsOfBranch(project(), masked!.id)).toEqual([]);
          const [rw] = emulator.state.endpointsOfBranch(project(), preview!.id);
          expect(rw).toMatchObject({ type: 'read_write', suspendTimeoutSeconds: 300 });
          expect(rw!.createdAt).toBeGreaterThanOrEqual(anonymizationOf(masked!)!.run!.endsAt);
          const secret = await secretData(namespace);
          const url = new URL(secret['DATABASE_URL'] ?? '');
          expect(url.hostname).toBe(emulator.state.host(rw!));
          expect(url.username).toBe('app');
          expect(decodeURIComponent(url.password)).toBe(preview?.roles.get('app')?.password);
        }
        expect(restoresOf(project())).toEqual([]);

        // A new commit on the first pull request: its branch is reset from the masked one, same branch and host.
        const [one, two] = prs as [string, string];
        const before = { id: neonBranch(`pr-${one}`)?.id, host: (await secretData(namespaces[0]!))['host'] };
        await apply(one, sha(2));
        await allReady(namespaces[0]!, (live) =>
          live.some((o) => o.metadata?.name === 'preview' && (o.status?.['reset'] as { request?: string } | undefined)?.request === sha(2)) &&
          live.some((o) => o.kind === 'NeonRole' && o.status?.['branchReset'] === sha(2)),
        );
        expect(restoresOf(project())).toEqual([expect.objectContaining({ branchId: before.id, sourceBranchId: neonBranch(`pr-${one}-masked`)?.id })]);
        expect(neonBranch(`pr-${one}`)?.id).toBe(before.id);
        expect(neonBranch(`pr-${one}`)?.lastResetAt).toBeDefined();
        expect(neonBranch(`pr-${two}`)?.lastResetAt).toBeUndefined();
        const afterReset = await secretData(namespaces[0]!);
        expect(afterReset['host']).toBe(before.host);
        expect(decodeURIComponent(new URL(afterReset['DATABASE_URL'] ?? '').password)).toBe(neonBranch(`pr-${one}`)?.roles.get('app')?.password);

        // The second pull request closes: Argo CD deletes its objects; its branches go, the first's stay.
        const del = await kubectl(cp, ['delete', '-n', namespaces[1]!, 'neon', '--all', '--wait=false']);
        expect(del.code, del.stderr).toBe(0);
        await closed(namespaces[1]!);
        expect(neonBranch(`pr-${two}`)).toBeUndefined();
        expect(neonBranch(`pr-${two}-masked`)).toBeUndefined();
        expect(neonBranch(`pr-${one}`)).toBeDefined();
        // Then the first (after its reset): both its branches go too.
        expect((await kubectl(cp, ['delete', '-n', namespaces[0]!, 'neon', '--all', '--wait=false'])).code).toBe(0);
        await closed(namespaces[0]!);
        expect([...project().branches.values()].map((b) => b.name)).toEqual(['main']);
        expect(emulator.specViolations()).toEqual([]);
        expect(await op.process.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      } finally {
        await op.process.stop('SIGKILL');
      }
    });
  });
});
