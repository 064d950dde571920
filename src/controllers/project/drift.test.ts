import { describe, expect, it } from 'vitest';
import { parseNeonProject } from '../../api/index.ts';
import type { Project } from '../../neon/index.ts';
import { projectCreateInput, projectUpdate } from './drift.ts';

const spec = (s: Record<string, unknown>) =>
  parseNeonProject({ apiVersion: 'neon-operator.dev/v1alpha1', kind: 'NeonProject', metadata: { name: 'demo' }, spec: s }).spec;
const neon = (p: Partial<Project>): Project =>
  ({ name: 'demo', history_retention_seconds: 86400, default_endpoint_settings: { autoscaling_limit_min_cu: 0.25, autoscaling_limit_max_cu: 2, suspend_timeout_seconds: 300 }, ...p }) as Project;

describe('project drift', () => {
  it('patches only what differs; default compute settings are sent whole', () => {
    const s = spec({ historyRetentionSeconds: 86400, defaultEndpointSettings: { autoscaling: { minCu: 0.25, maxCu: 2 }, suspendTimeoutSeconds: 300 } });
    expect(projectUpdate(s, 'demo', neon({}))).toBeUndefined();
    expect(projectUpdate(s, 'demo', neon({ history_retention_seconds: 3600 }))).toEqual({ history_retention_seconds: 86400 });
    expect(projectUpdate(s, 'demo', neon({ default_endpoint_settings: { autoscaling_limit_min_cu: 0.25, autoscaling_limit_max_cu: 4, suspend_timeout_seconds: 300 } }))).toEqual({
      default_endpoint_settings: { autoscaling_limit_min_cu: 0.25, autoscaling_limit_max_cu: 2, suspend_timeout_seconds: 300 },
    });
    expect(projectUpdate(spec({}), 'new-name', neon({}))).toEqual({ name: 'new-name' });
  });

  it('creates with the default branch, role and database names', () => {
    expect(projectCreateInput(spec({ regionId: 'aws-us-east-2', pgVersion: 17, defaultRole: { name: 'owner' }, defaultDatabase: { name: 'app' } }), 'demo')).toEqual({
      name: 'demo',
      region_id: 'aws-us-east-2',
      pg_version: 17,
      branch: { role_name: 'owner', database_name: 'app' },
    });
  });
});
