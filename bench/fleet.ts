/**
 * The fleet the operator benchmarks apply (NeonProjects, and branch groups of NeonBranch + read_write
 * NeonEndpoint + NeonRole with its Secret + NeonDatabase), how they are applied, and how readiness is read:
 * shared by `npm run bench:operator` and `npm run chaos`.
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { resourceTypes } from '../src/controllers/index.ts';
import { coreResources, type KubeClient, type KubeObject, type ResourceType } from '../src/runtime/index.ts';
import type { ControlPlane } from '../test/controlplane/harness.ts';
import type { RequestLogEntry } from '../test/emulator/server.ts';
import { classifyRoute, formatTable, shortRoute, type Workload } from './operator-bound.ts';

export function machineLine(): string {
  const [one = 0] = loadavg();
  return `machine: ${String(cpus().length)} cores, load average ${one.toFixed(1)} (other work on the machine slows the operator and the control plane alike)`;
}

// ---- the objects -----------------------------------------------------------------------------------------

export const pad = (i: number, width: number): string => String(i).padStart(width, '0');
export const projectName = (p: number): string => `p-${pad(p, 3)}`;

export interface Manifest extends KubeObject {
  spec: Record<string, unknown>;
}

export function manifest(kind: keyof typeof resourceTypes, name: string, spec: Record<string, unknown>): { type: ResourceType; obj: Manifest } {
  return { type: resourceTypes[kind], obj: { metadata: { name }, spec } };
}

/** One NeonProject per project of the workload; `neonPrefix` starts the Neon project names. */
export function projectObjects(w: Workload, neonPrefix = 'bench'): Array<{ type: ResourceType; obj: Manifest }> {
  return Array.from({ length: w.projects }, (_, p) =>
    manifest('project', projectName(p), { name: `${neonPrefix}-${projectName(p)}`, regionId: 'aws-us-east-2', pgVersion: 17 }),
  );
}

/** Group i lives in project i mod P; a group's objects share the suffix `-<i>`. */
export function groupObjects(w: Workload): Array<{ type: ResourceType; obj: Manifest }> {
  const out: Array<{ type: ResourceType; obj: Manifest }> = [];
  for (let i = 0; i < w.groups; i++) {
    const g = pad(i, 4);
    const branchRef = { name: `b-${g}` };
    out.push(manifest('branch', `b-${g}`, { projectRef: { name: projectName(i % w.projects) } }));
    out.push(manifest('endpoint', `e-${g}`, { branchRef, type: 'read_write' }));
    const role: Record<string, unknown> = { branchRef, name: 'app', secret: { name: `s-${g}` }, endpointRef: { name: `e-${g}` } };
    if (w.withDatabase) {
      out.push(manifest('database', `d-${g}`, { branchRef, name: 'app', ownerRef: { name: `r-${g}` } }));
      role['databaseRef'] = { name: `d-${g}` };
    } else {
      role['databaseName'] = 'neondb';
    }
    out.push(manifest('role', `r-${g}`, role));
  }
  return out;
}

/** Runs `fn` over `items`, at most `width` at once. */
export async function inPool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

// ---- the cluster side ------------------------------------------------------------------------------------

export interface Cluster {
  cp: ControlPlane;
  kube: KubeClient;
}

export async function newNamespace(cluster: Cluster, prefix: string): Promise<string> {
  const namespace = `${prefix}-${randomBytes(3).toString('hex')}`;
  await cluster.kube.create(coreResources.namespace, { metadata: { name: namespace } });
  return namespace;
}

export async function applyAll(cluster: Cluster, namespace: string, objects: Array<{ type: ResourceType; obj: Manifest }>): Promise<void> {
  await inPool(objects, 16, async ({ type, obj }) => {
    await cluster.kube.create(type, { ...obj, metadata: { ...obj.metadata, namespace } });
  });
}

export interface ReadyObject extends KubeObject {
  status?: { conditions?: Array<{ type: string; status: string; observedGeneration?: number }> };
}

export function isReady(obj: ReadyObject): boolean {
  const ready = obj.status?.conditions?.find((c) => c.type === 'Ready');
  return ready?.status === 'True' && ready.observedGeneration === obj.metadata?.generation;
}

// Label values may hold braces (route templates such as `/projects/{project_id}`): the label set ends at the last `}`.
const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{.*\})?\s+(\S+)$/;

/** Sum of one metric over its labels in a Prometheus text exposition. */
export function sumOfMetric(exposition: string, name: string): number {
  let total = 0;
  for (const line of exposition.split('\n')) {
    const m = sampleLine.exec(line);
    if (m?.[1] === name) total += Number(m[2]);
  }
  return total;
}

const n = (x: number): string => Math.round(x).toLocaleString('en-US');

/** Neon calls by route, most first: calls, share, 429s, other failures (a reset counts as a failure). */
export function routeTable(calls: readonly RequestLogEntry[]): string {
  const byRoute = new Map<string, { calls: number; throttled: number; failed: number }>();
  for (const c of calls) {
    const key = c.route ?? `${c.method} ?`;
    const row = byRoute.get(key) ?? { calls: 0, throttled: 0, failed: 0 };
    row.calls++;
    if (c.status === 429) row.throttled++;
    else if (c.status === 0 || c.status >= 400) row.failed++;
    byRoute.set(key, row);
  }
  const rows = [...byRoute].sort((a, b) => b[1].calls - a[1].calls || a[0].localeCompare(b[0]));
  return formatTable([
    ['route', 'kind', 'calls', 'share', '429', 'other 4xx/5xx'],
    ...rows.map(([route, r]) => [shortRoute(route), classifyRoute(route), n(r.calls), `${((r.calls / calls.length) * 100).toFixed(0)} %`, n(r.throttled), n(r.failed)]),
  ], 'llrrrr');
}
