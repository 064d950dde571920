// The tenancy rule: which Neon projects a namespace reaches, decided from the informer caches and the
// operator's allow-list alone (no Neon call).
import { describe, expect, it } from 'vitest';
import type { ControllerDeps } from './deps.ts';
import { NotReadyError } from './not-ready.ts';
import type { NeonClient } from '../../neon/index.ts';
import { allowListed, assertProjectReachable, parseAllowedProjects, PROJECT_NAMESPACE_MARK, PROJECT_NOT_ALLOWED, restoredProjectOrigin, type AllowedProject } from './tenancy.ts';

function project(namespace: string, name: string, spec: Record<string, unknown>, status: Record<string, unknown>) {
  return { apiVersion: 'neon-operator.dev/v1alpha1', kind: 'NeonProject', metadata: { namespace, name, uid: `${namespace}-${name}` }, spec, status };
}

function depsWith(projects: ReturnType<typeof project>[], allowedProjects: AllowedProject[] = []): ControllerDeps {
  return {
    informers: { informer: () => ({ list: (ns?: string) => projects.filter((p) => p.metadata.namespace === ns), get: () => undefined }) },
    allowedProjects,
  } as unknown as ControllerDeps;
}

function refusal(fn: () => void): NotReadyError | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (err instanceof NotReadyError) return err;
    throw err;
  }
}

describe('tenancy: which projects a namespace reaches', () => {
  const deps = depsWith([
    project('team-a', 'created', {}, { projectId: 'p-created' }),
    project('team-a', 'adopted', { projectId: 'p-adopted' }, { projectId: 'p-adopted', origin: 'Adopted' }),
    project('team-a', 'other-account', { apiKeySecretRef: { name: 'k', key: 'api-key' } }, { projectId: 'p-other' }),
  ]);

  it("with the operator's key: the projects the namespace's NeonProjects created, and nothing else", () => {
    expect(refusal(() => assertProjectReachable(deps, 'team-a', 'p-created', undefined))).toBeUndefined();
    const fromB = refusal(() => assertProjectReachable(deps, 'team-b', 'p-created', undefined));
    expect(fromB?.reason).toBe(PROJECT_NOT_ALLOWED);
    expect(fromB?.message).toContain('not reachable from namespace team-b');
    expect(fromB?.message).toContain('--allowed-projects team-b/p-created');
    // Adopting by ID vouches for nothing (that is what needs the allow-list); another account's project neither.
    expect(refusal(() => assertProjectReachable(deps, 'team-a', 'p-adopted', undefined))?.reason).toBe(PROJECT_NOT_ALLOWED);
    expect(refusal(() => assertProjectReachable(deps, 'team-a', 'p-other', undefined))?.reason).toBe(PROJECT_NOT_ALLOWED);
  });

  it("with the namespace's own key: any project of that account; a key of another namespace: never", () => {
    expect(refusal(() => assertProjectReachable(deps, 'team-b', 'p-anything', { namespace: 'team-b', name: 'k', key: 'api-key' }))).toBeUndefined();
    const foreign = refusal(() => assertProjectReachable(deps, 'team-b', 'p-anything', { namespace: 'team-a', name: 'k', key: 'api-key' }));
    expect(foreign?.reason).toBe(PROJECT_NOT_ALLOWED);
    expect(foreign?.message).toContain('team-a/k');
  });

  it('the allow-list grants exactly what it names: a namespace, a prefix or any, one project or all', () => {
    const allowed = parseAllowedProjects(['team-b/p-created', 'preview-*/p-shared', '*/p-public']);
    const withList = depsWith([], allowed);
    expect(refusal(() => assertProjectReachable(withList, 'team-b', 'p-created', undefined))).toBeUndefined();
    expect(refusal(() => assertProjectReachable(withList, 'team-c', 'p-created', undefined))?.reason).toBe(PROJECT_NOT_ALLOWED);
    expect(allowListed(allowed, 'preview-42', 'p-shared')).toBe(true);
    expect(allowListed(allowed, 'preview', 'p-shared')).toBe(false);
    expect(allowListed(allowed, 'preview-42', 'p-created')).toBe(false);
    expect(allowListed(allowed, 'anyone', 'p-public')).toBe(true);
    expect(allowListed(parseAllowedProjects(['*/*']), 'anyone', 'p-any')).toBe(true);
  });

  it('refuses malformed allow-list entries by name', () => {
    for (const bad of ['team-a', 'team-a/', '/p-1', 'Team/p-1', 'te*am/p-1', 'team-a/P_1']) {
      expect(() => parseAllowedProjects([bad])).toThrow(`"${bad}" is not namespace/projectId`);
    }
  });
});

describe('tenancy: a NeonProject restored without status, naming its project in an annotation', () => {
  // Neon's answer for the project's branches: the annotations the project was created with.
  const neonWith = (marks: Record<string, string>) =>
    ({ listAllBranches: async () => ({ branches: [], annotations: { 'br-main': { object: { type: 'console/branch', id: 'br-main' }, value: marks } } }) }) as unknown as NeonClient;
  const signal = new AbortController().signal;

  it("with the operator's key: Created when Neon's mark names this namespace, refused when it names another or none", async () => {
    const deps = depsWith([]);
    await expect(restoredProjectOrigin(deps, 'team-a', 'p-1', undefined, neonWith({ [PROJECT_NAMESPACE_MARK]: 'team-a' }), signal)).resolves.toBe('Created');
    const other = await restoredProjectOrigin(deps, 'team-b', 'p-1', undefined, neonWith({ [PROJECT_NAMESPACE_MARK]: 'team-a' }), signal).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(NotReadyError);
    expect((other as NotReadyError).reason).toBe(PROJECT_NOT_ALLOWED);
    await expect(restoredProjectOrigin(deps, 'team-a', 'p-1', undefined, neonWith({}), signal)).rejects.toBeInstanceOf(NotReadyError);
  });

  it('without the mark, what the rule lets through anyway (allow-list, own account) counts as Adopted', async () => {
    const deps = depsWith([], [{ namespace: 'team-a', projectId: 'p-1' }]);
    await expect(restoredProjectOrigin(deps, 'team-a', 'p-1', undefined, neonWith({}), signal)).resolves.toBe('Adopted');
    await expect(restoredProjectOrigin(depsWith([]), 'team-a', 'p-2', { namespace: 'team-a', name: 'k', key: 'api-key' }, neonWith({}), signal)).resolves.toBe('Adopted');
  });
});
