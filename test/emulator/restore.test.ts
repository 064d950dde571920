// Branch restore and set_as_default, one rule per test, each quoting the official spec
// (`public-v2-for-users.gen.yaml` in `@neondatabase/api-client`, found by test/fidelity/openapi.ts `specPath()`):
// operations `restoreProjectBranch` (schema `BranchRestoreRequest`), `setDefaultProjectBranch`, `updateProjectBranch`
// (schema `BranchUpdateRequest`). A refused request changes nothing.
import { describe, expect, it } from 'vitest';
import { useEmulatorUnderTest } from './emulator-under-test.ts';
import type { RawResponse } from './raw-client.ts';
import { lsnAt, restoresOf } from './restore.ts';

const t = useEmulatorUnderTest();
const HOUR = 3600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function expectRefused(res: RawResponse, says: RegExp): void {
  expect(res.status).toBe(400);
  expect(res.body).toMatchObject({ code: '', request_id: expect.any(String) });
  expect(res.body.message).toMatch(says);
}

async function branch(projectId: string, name: string, parentId?: string): Promise<string> {
  const res = await t.api.post(`/projects/${projectId}/branches`, { branch: { name, ...(parentId ? { parent_id: parentId } : {}) } });
  expect(res.status).toBe(201);
  t.settle();
  return res.body.branch.id as string;
}

const project = (id: string) => {
  const p = t.em.state.projects.get(id);
  if (!p) throw new Error(`no project ${id}`);
  return p;
};

describe('restore (spec: restoreProjectBranch, BranchRestoreRequest)', () => {
  it('refuses a restore to the branch’s own history without source_lsn or source_timestamp', async () => {
    // BranchRestoreRequest.source_branch_id: "If source_branch_id is equal to the branch's id, source_timestamp or source_lsn is required."
    const p = await t.newProject();
    const dev = await branch(p.id, 'dev');
    const before = t.em.state.findBranch(dev)?.updatedAt;
    expectRefused(
      await t.api.post(`/projects/${p.id}/branches/${dev}/restore`, { source_branch_id: dev, preserve_under_name: 'dev-old' }),
      /source_lsn or source_timestamp is required/,
    );
    expect(t.em.state.findBranch(dev)?.updatedAt).toBe(before);
    expect([...project(p.id).branches.values()].map((b) => b.name).sort()).toEqual(['dev', 'main']);
  });

  it('refuses a restore to the branch’s own history without preserve_under_name', async () => {
    // BranchRestoreRequest.preserve_under_name: "If the branch has children or the source_branch_id is equal to the branch id, this field is required."
    const p = await t.newProject();
    const dev = await branch(p.id, 'dev');
    t.clock.advance(10_000);
    expectRefused(
      await t.api.post(`/projects/${p.id}/branches/${dev}/restore`, { source_branch_id: dev, source_timestamp: iso(t.clock.now() - 5_000) }),
      /preserve_under_name is required/,
    );
  });

  it('refuses to restore a branch that has children without preserve_under_name', async () => {
    // BranchRestoreRequest.preserve_under_name: "If the branch has children … this field is required."
    const p = await t.newProject();
    const dev = await branch(p.id, 'dev');
    const child = await branch(p.id, 'feature', dev);
    expectRefused(
      await t.api.post(`/projects/${p.id}/branches/${dev}/restore`, { source_branch_id: p.mainId }),
      new RegExp(`preserve_under_name is required: branch ${dev} has child branches \\(${child}\\)`),
    );
    expect(t.em.state.findBranch(dev)?.lastResetAt).toBeUndefined();
  });

  it('restores from the parent to head, keeping ID and computes; roles and passwords follow the source', async () => {
    // BranchRestoreRequest.source_branch_id: "If source_timestamp and source_lsn are omitted, the branch will be restored to head."
    const p = await t.newProject();
    const created = await t.api.post(`/projects/${p.id}/branches`, { branch: { name: 'dev' }, endpoints: [{ type: 'read_write' }] });
    t.settle();
    const dev = created.body.branch.id as string;
    const ep = created.body.endpoints[0].id as string;
    expect((await t.api.post(`/projects/${p.id}/branches/${dev}/roles`, { role: { name: 'only_on_dev' } })).status).toBe(201);
    t.settle();
    await t.api.post(`/projects/${p.id}/branches/${p.mainId}/roles/neondb_owner/reset_password`);
    t.settle();
    const res = await t.api.post(`/projects/${p.id}/branches/${dev}/restore`, { source_branch_id: p.mainId });
    expect(res.status).toBe(200);
    expect(res.body.branch).toMatchObject({ id: dev, parent_id: p.mainId, parent_lsn: lsnAt(project(p.id), t.clock.now()), last_reset_at: iso(t.clock.now()) });
    expect(res.body.operations.map((o: { action: string }) => o.action)).toEqual(['suspend_compute', 'create_timeline', 'start_compute']);
    t.settle();
    expect((await t.api.get(`/projects/${p.id}/endpoints/${ep}`)).body.endpoint.branch_id).toBe(dev);
    const roles = (await t.api.get(`/projects/${p.id}/branches/${dev}/roles`)).body.roles.map((r: { name: string }) => r.name);
    expect(roles).toEqual(['neondb_owner']);
    const mainPw = (await t.api.get(`/projects/${p.id}/branches/${p.mainId}/roles/neondb_owner/reveal_password`)).body.password;
    expect((await t.api.get(`/projects/${p.id}/branches/${dev}/roles/neondb_owner/reveal_password`)).body.password).toBe(mainPw);
    expect(restoresOf(project(p.id))).toEqual([expect.objectContaining({ branchId: dev, sourceBranchId: p.mainId })]);
  });

  it('preserves the old state as the PARENT of the restored branch, moves the children to it, and the restored branch can then be deleted', async () => {
    // BranchRestoreRequest.preserve_under_name: "the previous state of the branch will be saved to a branch with this name …
    // All existing child branches will be moved to the newly created branch under the name preserve_under_name."
    const p = await t.newProject();
    const dev = await branch(p.id, 'dev');
    const child = await branch(p.id, 'feature', dev);
    const res = await t.api.post(`/projects/${p.id}/branches/${dev}/restore`, { source_branch_id: p.mainId, preserve_under_name: 'dev-old' });
    expect(res.status).toBe(200);
    t.settle();
    const all = (await t.api.get(`/projects/${p.id}/branches`)).body.branches as { id: string; name: string; parent_id?: string }[];
    const old = all.find((b) => b.name === 'dev-old');
    expect(old).toMatchObject({ parent_id: p.mainId });
    expect(all.find((b) => b.id === dev)).toMatchObject({ parent_id: old?.id });
    expect(all.find((b) => b.id === child)).toMatchObject({ parent_id: old?.id });
    expect(restoresOf(project(p.id)).at(-1)).toMatchObject({ branchId: dev, preservedAs: old?.id });
    // The restored branch has no children left, so Neon deletes it.
    expect((await t.api.delete(`/projects/${p.id}/branches/${dev}`)).status).toBe(200);
  });

  it('restores to a point in the branch’s own history given as a timestamp or an LSN', async () => {
    // BranchRestoreRequest.source_lsn / source_timestamp: "The branch will be restored with data from this LSN" /
    // "starting from this point in time"; a point outside the history is refused.
    const p = await t.newProject();
    const dev = await branch(p.id, 'dev');
    const devCreated = t.clock.now() - 60_000;
    t.clock.advance(HOUR);
    const point = t.clock.now() - HOUR / 2;
    const byTime = await t.api.post(`/projects/${p.id}/branches/${dev}/restore`, { source_branch_id: dev, source_timestamp: iso(point), preserve_under_name: 'before-1' });
    expect(byTime.status).toBe(200);
    expect(byTime.body.branch.parent_lsn).toBe(lsnAt(project(p.id), point));
    t.settle();
    // After a restore the branch's history starts again at the restore.
    const lsn = lsnAt(project(p.id), t.clock.now() - 30_000);
    const byLsn = await t.api.post(`/projects/${p.id}/branches/${dev}/restore`, { source_branch_id: dev, source_lsn: lsn, preserve_under_name: 'before-2' });
    expect(byLsn.status).toBe(200);
    expect(byLsn.body.branch.parent_lsn).toBe(lsn);
    t.settle();
    const restore = (body: Record<string, unknown>) => t.api.post(`/projects/${p.id}/branches/${dev}/restore`, { source_branch_id: dev, preserve_under_name: 'x', ...body });
    expectRefused(await restore({ source_timestamp: iso(t.clock.now() + HOUR) }), /source_timestamp .* is in the future/);
    expectRefused(await restore({ source_timestamp: iso(devCreated - HOUR) }), /source_timestamp .* is before the history of branch/);
    expectRefused(await restore({ source_timestamp: '2026-01-01T00:00:00' }), /source_timestamp: .* is not an RFC 3339 timestamp/);
    expectRefused(await restore({ source_lsn: lsnAt(project(p.id), t.clock.now() + HOUR) }), /source_lsn .* is in the future/);
    expectRefused(await restore({ source_lsn: 'not-an-lsn' }), /source_lsn: "not-an-lsn" is not an LSN/);
    expectRefused(await restore({ source_lsn: lsn, source_timestamp: iso(t.clock.now()) }), /cannot be used together/);
    t.clock.advance(48 * HOUR);
    expectRefused(
      await restore({ source_timestamp: iso(t.clock.now() - 30 * HOUR) }),
      /outside the project's history retention of 86400 seconds/,
    );
  });

  it('refuses a preserve_under_name that is already taken (409 BRANCH_ALREADY_EXISTS)', async () => {
    const p = await t.newProject();
    const dev = await branch(p.id, 'dev');
    const res = await t.api.post(`/projects/${p.id}/branches/${dev}/restore`, { source_branch_id: p.mainId, preserve_under_name: 'main' });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('BRANCH_ALREADY_EXISTS');
  });
});

describe('set_as_default (spec: setDefaultProjectBranch)', () => {
  it('makes the branch the default and removes the designation from the previous one', async () => {
    // "Sets the specified branch as the project's default branch. The default designation is automatically
    // removed from the previous default branch."
    const p = await t.newProject();
    const dev = await branch(p.id, 'dev');
    const res = await t.api.post(`/projects/${p.id}/branches/${dev}/set_as_default`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ branch: { id: dev, default: true }, operations: [] });
    expect((await t.api.get(`/projects/${p.id}/branches/${p.mainId}`)).body.branch.default).toBe(false);
    // The old default is an ordinary branch now: it can be deleted; the new default cannot.
    expect((await t.api.delete(`/projects/${p.id}/branches/${dev}`)).status).toBe(400);
    expect((await t.api.post(`/projects/${p.id}/branches/nope/set_as_default`)).status).toBe(404);
  });
});

describe('update (spec: updateProjectBranch, BranchUpdateRequest)', () => {
  it('does not apply annotation_value, which only the create request has', async () => {
    // BranchUpdateRequest has the single property `branch` (name, protected, expires_at); annotations are
    // set by BranchCreateRequest's AnnotationCreateValueRequest only.
    const p = await t.newProject();
    const res = await t.api.post(`/projects/${p.id}/branches`, { branch: { name: 'dev' }, annotation_value: { owner: 'a' } });
    t.settle();
    const dev = res.body.branch.id as string;
    const upd = await t.api.patch(`/projects/${p.id}/branches/${dev}`, { branch: { name: 'dev2' }, annotation_value: { owner: 'b' } });
    expect(upd.status).toBe(200);
    expect(upd.body.branch.name).toBe('dev2');
    expect((await t.api.get(`/projects/${p.id}/branches/${dev}`)).body.annotation.value).toEqual({ owner: 'a' });
  });
});
