// examples/argocd-preview: the ApplicationSet's per-pull-request rendering (its Go-template parameters and
// kustomize settings applied the way Argo CD applies them) is valid for kubeconform -strict, parses with the
// operator's own schemas, is accepted by the API server, and really works: the operator (chart RBAC, namespaced
// to the preview) makes the preview's Neon branch, compute, database, role and the Secret the app reads with
// envFrom; Argo CD's health check calls them Healthy; closing the preview deletes the branch in Neon.
// The ApplicationSet itself has no schema offline (Argo CD's CRDs are not here): it is checked by shape.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { allKinds } from '../../../src/api/kinds.ts';
import { coreResources, httpTransport, KubeClient, type SecretObject } from '../../../src/runtime/index.ts';
import { buildRunner, runHealthChecks } from '../../argocd/lua-runner.ts';
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

/** The pull-request generator's parameters substituted into the template, as Argo CD's Go templating does. */
function renderTemplate(template: ApplicationTemplate, params: Record<string, string>): ApplicationTemplate {
  const text = JSON.stringify(template).replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_m, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`missingkey=error: {{.${name}}}`);
    return value;
  });
  return JSON.parse(text) as ApplicationTemplate;
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
  const number = String(1000 + Math.floor(Math.random() * 9000));
  const sha = 'c0ffee1234567890c0ffee1234567890c0ffee12';
  let app: ApplicationTemplate;
  let rendered: string;
  let objects: Manifest[];

  beforeAll(async () => {
    const appSet = applicationSetSchema.parse(parse(await readFile(join(exampleDir, 'applicationset.yaml'), 'utf8')));
    app = renderTemplate(appSet.spec.template, { number, head_sha: sha });
    rendered = await kustomizeLikeArgoCd(app, cp.workDir);
    objects = parseManifests(rendered);
    await buildRunner();
  }, 300_000);

  it('renders one namespaced preview per pull request: branch pr-<number>, the commit image, no template left', () => {
    expect(app.metadata.name).toBe(`preview-${number}`);
    expect(app.spec.destination.namespace).toBe(`preview-${number}`);
    expect(app.spec.syncPolicy.syncOptions).toContain('CreateNamespace=true');
    expect(app.metadata.finalizers).toContain('resources-finalizer.argocd.argoproj.io');
    expect(rendered).not.toContain('{{');
    expect(objects.map((o) => o.kind).sort()).toEqual(['Deployment', 'NeonBranch', 'NeonDatabase', 'NeonEndpoint', 'NeonRole']);
    for (const o of objects) expect(o.metadata.namespace).toBe(`preview-${number}`);
    const branch = objects.find((o) => o.kind === 'NeonBranch') as (Manifest & { spec: { name: string } }) | undefined;
    expect(branch?.spec.name).toBe(`pr-${number}`);
    const deployment = objects.find((o) => o.kind === 'Deployment') as (Manifest & { spec: { template: { spec: { containers: { image: string; envFrom: { secretRef: { name: string } }[] }[] } } } }) | undefined;
    expect(deployment?.spec.template.spec.containers[0]?.image).toBe(`your-org/your-app:${sha}`);
    // The app reads the very Secret the NeonRole writes.
    const role = objects.find((o) => o.kind === 'NeonRole') as (Manifest & { spec: { secret: { name: string } } }) | undefined;
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
    await ensureNamespaces(cp, [`preview-${number}`]);
    const r = await kubectl(cp, ['apply', '--dry-run=server', '--server-side', '--field-manager=argocd-controller', '-f', '-'], rendered);
    expect(r.code, r.stderr).toBe(0);
  });

  describe('run by the operator', () => {
    let emulator: EmulatorHandle;
    const apiKey = uniqueName('preview-key');
    afterAll(async () => {
      await emulator?.stop();
    });

    it('gets the preview Ready with the Secret for envFrom, Healthy for Argo CD, and removes the branch when closed', async () => {
      emulator = await startEmulator({ seed: 13, durations: FAST_DURATIONS });
      // The shared project the previews branch from, made directly in Neon (the emulator).
      const created = await fetch(`${emulator.url}/projects`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ project: { name: 'shop' } }),
      });
      expect(created.status).toBe(201);
      const projectId = z.object({ project: z.object({ id: z.string() }) }).parse(await created.json()).project.id;
      const namespace = `preview-${number}`;
      const install = await installChartRbac(cp, uniqueName('pv'), uniqueName('ship-pv-op'), {
        watch: { namespaces: [namespace] },
        neonApiKey: { existingSecret: 'neon-api-key', key: 'api-key' },
        // The shared project is named by ID with the operator's key: the preview namespaces are allowed to reach it.
        tenancy: { allowedProjects: [`preview-*/${projectId}`] },
      });
      const op = await startOperatorProcess(install, { podName: 'preview-operator', apiKey, neonApiUrl: emulator.url });
      try {
        const apply = await kubectl(cp, ['apply', '--server-side', '--field-manager=argocd-controller', '-f', '-'], rendered.replaceAll(PLACEHOLDER_PROJECT, projectId));
        expect(apply.code, apply.stderr).toBe(0);
        const neonObjects = objects.filter((o) => o.apiVersion.startsWith('neon-operator.dev/'));
        const live = await eventually('the preview\'s Neon objects Ready', async () => {
          const out: NeonObject[] = [];
          for (const o of neonObjects) {
            const type = kindTypes[o.kind];
            if (!type) throw new Error(o.kind);
            const obj = await admin.get<NeonObject>(type, { namespace, name: o.metadata.name });
            const ready = readyCondition(obj);
            if (!obj || ready?.status !== 'True' || ready.observedGeneration !== obj.metadata?.generation) return undefined;
            out.push({ ...obj, apiVersion: o.apiVersion, kind: o.kind });
          }
          return out;
        }, 90_000, 300);
        const secret = await admin.get<SecretObject>(coreResources.secret, { namespace, name: 'app-db' });
        const url = Buffer.from(secret?.data?.['DATABASE_URL'] ?? '', 'base64').toString('utf8');
        expect(url).toMatch(/^postgres(ql)?:\/\/app:[^@]+@ep-[a-z0-9-]+\.[^/]+\/app\?sslmode=require/);
        expect((await runHealthChecks(live)).map((h) => h.status)).toEqual(live.map(() => 'Healthy'));
        const project = emulator.state.project(emulator.accountOf(apiKey), projectId);
        expect([...(project?.branches.values() ?? [])].map((b) => b.name).filter((n) => n === `pr-${number}`)).toHaveLength(1);

        // The pull request closes: Argo CD deletes the Application's objects.
        const del = await kubectl(cp, ['delete', '-n', namespace, 'neon', '--all', '--wait=false']);
        expect(del.code, del.stderr).toBe(0);
        await eventually('the preview\'s Neon objects gone', async () => {
          const r = await kubectl(cp, ['get', '-n', namespace, 'neon', '-o', 'name']);
          return r.code === 0 && r.stdout.trim() === '' ? true : undefined;
        }, 90_000, 300);
        const after = emulator.state.project(emulator.accountOf(apiKey), projectId);
        expect(after).toBeDefined();
        expect([...(after?.branches.values() ?? [])].map((b) => b.name)).not.toContain(`pr-${number}`);
        expect(await op.process.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      } finally {
        await op.process.stop('SIGKILL');
      }
    });
  });
});
