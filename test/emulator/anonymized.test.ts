// Anonymized branches (Beta in the official spec `public-v2-for-users.gen.yaml` of `@neondatabase/api-client`):
// `createProjectBranchAnonymized` (BranchAnonymizedCreateRequest), `getMaskingRules` / `updateMaskingRules`,
// `getAnonymizedBranchStatus` and `startAnonymization` (AnonymizedBranchStatusResponse). Every answer is checked
// against the spec by the emulator under test.
import { describe, expect, it } from 'vitest';
import { anonymizationOf } from './anonymized.ts';
import { useEmulatorUnderTest } from './emulator-under-test.ts';

const t = useEmulatorUnderTest();

const EMAIL = { database_name: 'neondb', schema_name: 'public', table_name: 'users', column_name: 'email', masking_function: 'anon.fake_email()' };

describe('anonymized branches (spec: createProjectBranchAnonymized and friends)', () => {
  it('creates a branch with masking rules that anonymizes itself: created → anonymizing → anonymized', async () => {
    // BranchAnonymizedCreateRequest: `branch_create`, `masking_rules`, `start_anonymization` ("automatically start
    // anonymization after the branch is created"); the answer is CreatedBranch, as for an ordinary branch.
    const p = await t.newProject();
    const res = await t.api.post(`/projects/${p.id}/branch_anonymized`, {
      branch_create: { branch: { name: 'masked', parent_id: p.mainId }, endpoints: [{ type: 'read_write' }] },
      annotation_value: { owner: 'uid-1' },
      masking_rules: [EMAIL],
      start_anonymization: true,
    });
    expect(res.status).toBe(201);
    expect(res.body.branch).toMatchObject({ name: 'masked', parent_id: p.mainId });
    expect(res.body.endpoints).toHaveLength(1);
    const id = res.body.branch.id as string;
    const status = () => t.api.get(`/projects/${p.id}/branches/${id}/anonymized_status`);
    expect((await status()).body).toMatchObject({ project_id: p.id, branch_id: id, state: 'created' });
    t.clock.advance(1_000);
    expect((await status()).body.state).toBe('anonymizing');
    t.settle();
    const done = (await status()).body;
    expect(done).toMatchObject({ state: 'anonymized', last_run: { masked_columns: 1 } });
    expect((await t.api.get(`/projects/${p.id}/branches/${id}/masking_rules`)).body).toEqual({ masking_rules: [EMAIL] });
    expect((await t.api.get(`/projects/${p.id}/branches/${id}`)).body.annotation.value).toEqual({ owner: 'uid-1' });
    expect(anonymizationOf(t.em.state.findBranch(id)!)?.run?.outcome).toBe('anonymized');
  });

  it('without start_anonymization waits in initialized; rules are replaced and a start runs them', async () => {
    // MaskingRulesUpdateRequest: "This will replace all existing masking rules for the branch."
    // startAnonymization: "for an anonymized branch that is in the initialized, error, or anonymized state".
    const p = await t.newProject();
    const id = (await t.api.post(`/projects/${p.id}/branch_anonymized`, { branch_create: { branch: { name: 'm2' } } })).body.branch.id as string;
    const start = () => t.api.post(`/projects/${p.id}/branches/${id}/anonymize`);
    expect((await start()).status).toBe(409); // still `created`
    t.settle();
    expect((await t.api.get(`/projects/${p.id}/branches/${id}/anonymized_status`)).body.state).toBe('initialized');
    const rules = [{ ...EMAIL, column_name: 'phone', masking_function: undefined, masking_value: '000' }];
    const upd = await t.api.patch(`/projects/${p.id}/branches/${id}/masking_rules`, { masking_rules: rules });
    expect(upd.status).toBe(200);
    expect(upd.body.masking_rules).toEqual([{ database_name: 'neondb', schema_name: 'public', table_name: 'users', column_name: 'phone', masking_value: '000' }]);
    const started = await start();
    expect(started.status).toBe(200);
    expect(started.body.state).toBe('anonymizing');
    expect((await t.api.patch(`/projects/${p.id}/branches/${id}/masking_rules`, { masking_rules: [] })).status).toBe(409);
    expect((await start()).status).toBe(409);
    t.settle();
    expect((await t.api.get(`/projects/${p.id}/branches/${id}/anonymized_status`)).body.state).toBe('anonymized');
    expect((await start()).status).toBe(200); // again, from anonymized
  });

  it('ends in error when a rule names a database the branch does not have; a fixed rule and a new start recover', async () => {
    const p = await t.newProject();
    const res = await t.api.post(`/projects/${p.id}/branch_anonymized`, {
      branch_create: { branch: { name: 'm3' } },
      masking_rules: [{ ...EMAIL, database_name: 'nope' }],
      start_anonymization: true,
    });
    const id = res.body.branch.id as string;
    t.settle();
    const failed = (await t.api.get(`/projects/${p.id}/branches/${id}/anonymized_status`)).body;
    expect(failed).toMatchObject({ state: 'error', status_message: 'database "nope" does not exist on the branch', failed_at: expect.any(String) });
    await t.api.patch(`/projects/${p.id}/branches/${id}/masking_rules`, { masking_rules: [EMAIL] });
    expect((await t.api.post(`/projects/${p.id}/branches/${id}/anonymize`)).status).toBe(200);
    t.settle();
    expect((await t.api.get(`/projects/${p.id}/branches/${id}/anonymized_status`)).body.state).toBe('anonymized');
  });

  it('refuses rules without the fields the spec requires, and answers 404 for a branch that is not anonymized', async () => {
    // MaskingRule required: database_name, schema_name, table_name, column_name.
    const p = await t.newProject();
    const before = t.em.state.projects.get(p.id)?.branches.size;
    const bad = await t.api.post(`/projects/${p.id}/branch_anonymized`, { branch_create: { branch: { name: 'm4' } }, masking_rules: [{ ...EMAIL, table_name: undefined }] });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toBe('masking_rules[0].table_name is required');
    const noMask = await t.api.post(`/projects/${p.id}/branch_anonymized`, { masking_rules: [{ ...EMAIL, masking_function: undefined }] });
    expect(noMask.body.message).toBe('masking_rules[0]: masking_function or masking_value is required');
    expect(t.em.state.projects.get(p.id)?.branches.size).toBe(before);
    // "Only anonymized branches will have status information available."
    expect((await t.api.get(`/projects/${p.id}/branches/${p.mainId}/anonymized_status`)).status).toBe(404);
    expect((await t.api.get(`/projects/${p.id}/branches/${p.mainId}/masking_rules`)).status).toBe(404);
    expect((await t.api.post(`/projects/${p.id}/branches/${p.mainId}/anonymize`)).status).toBe(404);
  });
});
