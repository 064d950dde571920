import { describe, expect, it } from 'vitest';
import {
  connectionSecretName,
  neonBranchName,
  neonProjectName,
  parseNeonBranch,
  parseNeonDatabase,
  parseNeonProject,
  parseNeonRole,
  postgresDatabaseName,
  postgresRoleName,
} from './index.ts';

const apiVersion = 'neon-operator.dev/v1alpha1';
const metadata = { name: 'app', namespace: 'ns' };

describe('defaults that depend on metadata.name', () => {
  it('take the spec when set, metadata.name otherwise', () => {
    const project = parseNeonProject({ apiVersion, kind: 'NeonProject', metadata, spec: {} });
    expect(neonProjectName(project)).toBe('app');
    expect(neonProjectName({ ...project, spec: { ...project.spec, name: 'Demo' } })).toBe('Demo');

    const branch = parseNeonBranch({ apiVersion, kind: 'NeonBranch', metadata, spec: { projectId: 'p-1' } });
    expect(neonBranchName(branch)).toBe('app');
    expect(neonBranchName({ ...branch, spec: { ...branch.spec, name: 'preview/pr-1' } })).toBe('preview/pr-1');

    const role = parseNeonRole({ apiVersion, kind: 'NeonRole', metadata, spec: { branchRef: { name: 'b' }, databaseName: 'd' } });
    expect(postgresRoleName(role)).toBe('app');
    expect(postgresRoleName({ ...role, spec: { ...role.spec, name: 'app_user' } })).toBe('app_user');

    const db = parseNeonDatabase({ apiVersion, kind: 'NeonDatabase', metadata, spec: { branchRef: { name: 'b' }, ownerName: 'o' } });
    expect(postgresDatabaseName(db)).toBe('app');
    expect(postgresDatabaseName({ ...db, spec: { ...db.spec, name: 'app_db' } })).toBe('app_db');
  });

  it('names the connection Secret <metadata.name>-connection unless spec.secret.name says otherwise', () => {
    const role = parseNeonRole({ apiVersion, kind: 'NeonRole', metadata, spec: { branchRef: { name: 'b' }, databaseName: 'd' } });
    expect(connectionSecretName(role)).toBe('app-connection');
    expect(connectionSecretName({ ...role, spec: { ...role.spec, secret: { name: 'db' } } })).toBe('db');
    expect(connectionSecretName({ ...role, spec: { ...role.spec, secret: {} } })).toBe('app-connection');
    const project = parseNeonProject({ apiVersion, kind: 'NeonProject', metadata: { name: 'demo' }, spec: {} });
    expect(connectionSecretName(project)).toBe('demo-connection');
  });
});
