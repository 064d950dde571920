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

  it('manages only the settings the spec names; lists compare as sets', () => {
    const s = spec({ settings: { allowedIps: { ips: ['10.0.0.0/8', '192.168.1.1'] }, maintenanceWindow: { weekdays: [1, 5], startTime: '01:00', endTime: '02:00' }, quota: { computeTimeSeconds: 3600 } } });
    const have = {
      allowed_ips: { ips: ['192.168.1.1', '10.0.0.0/8'] },
      maintenance_window: { weekdays: [5, 1], start_time: '01:00', end_time: '02:00' },
      quota: { compute_time_seconds: 3600, active_time_seconds: 100 },
      enable_logical_replication: true,
    };
    expect(projectUpdate(s, 'demo', neon({ settings: have }))).toBeUndefined();
    expect(projectUpdate(s, 'demo', neon({ settings: { ...have, allowed_ips: { ips: ['10.0.0.0/8'] } } }))).toEqual({
      settings: { allowed_ips: { ips: ['10.0.0.0/8', '192.168.1.1'] } },
    });
    expect(projectUpdate(s, 'demo', neon({ settings: { ...have, quota: { active_time_seconds: 100 } } }))).toEqual({
      settings: { quota: { active_time_seconds: 100, compute_time_seconds: 3600 } },
    });
    expect(projectCreateInput(spec({ settings: { enableLogicalReplication: true } }), 'demo').settings).toEqual({ enable_logical_replication: true });
  });
});
