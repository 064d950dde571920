// The project view's freshness rules: what it serves without asking Neon, what it forgets, and how the
// operator's own mutation answers and operation ends keep it current.
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../runtime/fake-clock.ts';
import { ProjectView, type ViewBranch, type ViewSnapshot } from './project-view.ts';
import type { Branch, Database, Endpoint, Operation, Role } from './schemas.ts';

const T = '2026-01-01T00:00:00Z';

function branch(id: string, extra: Partial<Branch> = {}): Branch {
  return {
    id,
    project_id: 'p',
    name: id,
    current_state: 'ready',
    state_changed_at: T,
    creation_source: 'console',
    default: false,
    protected: false,
    created_at: T,
    updated_at: T,
    ...extra,
  };
}

function endpoint(id: string, extra: Partial<Endpoint> = {}): Endpoint {
  return {
    host: `${id}.example`,
    id,
    project_id: 'p',
    branch_id: 'br-1',
    region_id: 'aws-us-east-2',
    autoscaling_limit_min_cu: 0.25,
    autoscaling_limit_max_cu: 1,
    type: 'read_write',
    current_state: 'init',
    pending_state: 'active',
    created_at: T,
    updated_at: T,
    ...extra,
  } as Endpoint;
}

function op(id: string, status: Operation['status'], extra: Partial<Operation> = {}): Operation {
  return { id, project_id: 'p', action: 'start_compute', status, failures_count: 0, created_at: T, updated_at: T, total_duration_ms: 1, ...extra };
}

const role = (name: string, updated = T): Role => ({ branch_id: 'br-1', name, created_at: T, updated_at: updated });
const database = (name: string, owner = 'app'): Database => ({ id: 1, branch_id: 'br-1', name, owner_name: owner, created_at: T, updated_at: T }) as Database;

/** A fetch that counts its calls and answers what `answer` holds at the time of the call. */
function counted<T>(answer: () => T[]) {
  const fetch = async (): Promise<T[]> => {
    fetch.calls++;
    return answer();
  };
  fetch.calls = 0;
  return fetch;
}

describe('ProjectView', () => {
  it('serves a list for maxAge after it was fetched, and joins reads in flight', async () => {
    const clock = new FakeClock();
    const view = new ProjectView({ clock, maxAgeMs: 1_000 });
    const fetch = counted(() => [endpoint('ep-1')]);
    const [a, b] = await Promise.all([view.endpoints('p', fetch), view.endpoints('p', fetch)]);
    expect(fetch.calls).toBe(1);
    expect(a).toEqual(b);
    await clock.advance(999);
    await view.endpoints('p', fetch);
    expect(fetch.calls).toBe(1);
    await clock.advance(1);
    await view.endpoints('p', fetch);
    expect(fetch.calls).toBe(2);
  });

  it('follows the operator\'s own mutation answers without another read', async () => {
    const view = new ProjectView({ clock: new FakeClock(), maxAgeMs: 60_000 });
    const branches = counted<ViewBranch>(() => [{ branch: branch('br-main', { default: true }) }]);
    await view.branches('p', branches);
    view.putCreatedBranch('p', { branch: branch('br-1', { current_state: 'init', pending_state: 'ready' }), endpoints: [endpoint('ep-1')], roles: [{ ...role('app'), password: 'secret' }], databases: [database('app')], operations: [op('o1', 'running')] }, { object: { type: 'console/branch', id: 'br-1' }, value: { uid: 'u1' } });
    const listed = await view.branches('p', branches);
    expect(listed.map((b) => b.branch.id)).toEqual(['br-main', 'br-1']);
    expect(listed[1]?.annotation?.value).toEqual({ uid: 'u1' });
    // The create answer's roles and databases are the new branch's complete lists: no read needed.
    const roles = await view.roles('p', 'br-1', async () => { throw new Error('read'); });
    expect(roles).toEqual([role('app')]);
    expect(roles[0]).not.toHaveProperty('password');
    expect((await view.databases('p', 'br-1', async () => { throw new Error('read'); })).map((d) => d.name)).toEqual(['app']);

    view.putDatabase('p', 'br-1', database('renamed'), 'app');
    expect((await view.databases('p', 'br-1', async () => [])).map((d) => d.name)).toEqual(['renamed']);
    view.removeBranch('p', 'br-1');
    expect((await view.branches('p', branches)).map((b) => b.branch.id)).toEqual(['br-main']);
    expect(branches.calls).toBe(1);

    // A project create: its default branch carries the annotations the create asked for.
    view.putCreatedProject('q', { branch: branch('br-q', { default: true }), endpoints: [], roles: [], databases: [], operations: [] }, { object: { type: 'console/branch', id: 'br-q' }, value: { 'neon-operator.dev/namespace': 'team-a' } });
    const created = await view.branches('q', async () => { throw new Error('read'); });
    expect(created.map((b) => [b.branch.id, b.annotation?.value])).toEqual([['br-q', { 'neon-operator.dev/namespace': 'team-a' }]]);
  });

  it('settles what an operation touched once all its operations ended, and forgets it when one failed', async () => {
    const view = new ProjectView({ clock: new FakeClock(), maxAgeMs: 60_000 });
    await view.endpoints('p', async () => []);
    view.putEndpoint('p', endpoint('ep-1'), [op('o1', 'running'), op('o2', 'scheduling')]);
    view.settle('p', [op('o1', 'finished')]);
    expect((await view.endpoints('p', async () => []))[0]).toMatchObject({ current_state: 'init', pending_state: 'active' });
    view.settle('p', [op('o2', 'finished')]);
    const settled = (await view.endpoints('p', async () => []))[0];
    expect(settled?.current_state).toBe('active');
    expect(settled).not.toHaveProperty('pending_state');

    view.putEndpoint('p', endpoint('ep-1', { current_state: 'active', pending_state: 'idle' }), [op('o3', 'running')]);
    view.settle('p', [op('o3', 'failed')]);
    const fetch = counted(() => [endpoint('ep-1', { current_state: 'active', pending_state: undefined })]);
    expect((await view.endpoints('p', fetch))[0]?.current_state).toBe('active');
    expect(fetch.calls).toBe(1);
  });

  it('replays write-throughs made while a refresh was in flight onto its answer', async () => {
    const view = new ProjectView({ clock: new FakeClock(), maxAgeMs: 60_000 });
    let release: (v: Role[]) => void = () => {};
    const pending = view.roles('p', 'br-1', () => new Promise<Role[]>((resolve) => (release = resolve)));
    // Neon answered this create after the list was read: the list does not have it yet.
    view.putRole('p', 'br-1', role('late'));
    release([role('early')]);
    // Even the callers of that refresh see it: their answer is the list with the change replayed.
    expect((await pending).map((r) => r.name).sort()).toEqual(['early', 'late']);
    expect((await view.roles('p', 'br-1', async () => [])).map((r) => r.name).sort()).toEqual(['early', 'late']);
  });

  it('forgets a project on invalidate, and does not keep a refresh that was in flight then', async () => {
    const view = new ProjectView({ clock: new FakeClock(), maxAgeMs: 60_000 });
    let release: (v: Endpoint[]) => void = () => {};
    const pending = view.endpoints('p', () => new Promise<Endpoint[]>((resolve) => (release = resolve)));
    view.invalidate('p');
    release([endpoint('ep-stale')]);
    expect((await pending).map((e) => e.id)).toEqual(['ep-stale']);
    const fetch = counted(() => [endpoint('ep-new')]);
    expect((await view.endpoints('p', fetch)).map((e) => e.id)).toEqual(['ep-new']);
    expect(fetch.calls).toBe(1);
  });

  it('does not keep a failed read, and lets a caller abandon its wait', async () => {
    const view = new ProjectView({ clock: new FakeClock(), maxAgeMs: 60_000 });
    await expect(view.databases('p', 'br-1', async () => { throw new Error('503'); })).rejects.toThrow('503');
    const fetch = counted(() => [database('app')]);
    expect(await view.databases('p', 'br-1', fetch)).toHaveLength(1);
    expect(fetch.calls).toBe(1);
    const controller = new AbortController();
    const waiting = view.branches('q', () => new Promise<ViewBranch[]>(() => {}), controller.signal);
    controller.abort(new Error('stopped'));
    await expect(waiting).rejects.toThrow('stopped');
  });

  describe('change signal (the project\'s operations)', () => {
    /** A project whose operations list answers `ops` newest first, 100 per page; counts the pages read. */
    function project(clock: FakeClock, ops: Operation[] = []) {
      const pages: Array<string | undefined> = [];
      const changes: string[] = [];
      const at = () => new Date(clock.now()).toISOString();
      const add = (id: string, extra: Partial<Operation> = {}) => ops.unshift(op(id, 'finished', { action: 'apply_config', branch_id: 'br-1', created_at: at(), ...extra }));
      /** An operation the view's own mutation started (its answer written through). */
      const addOwn = (id: string, kept?: 'all' | 'roles') => {
        add(id);
        view.noteOwnOperations('p', [op(id, 'running')], kept);
      };
      const view = new ProjectView({
        clock,
        maxAgeMs: 1_000,
        onChange: (projectId) => changes.push(projectId),
        operations: async (_projectId, page) => {
          pages.push(page.cursor);
          const from = page.cursor === undefined ? 0 : ops.findIndex((o) => o.id === page.cursor) + 1;
          const slice = ops.slice(from, from + page.limit);
          const last = slice.at(-1);
          return { operations: slice, ...(last ? { pagination: { cursor: last.id } } : {}) };
        },
      });
      const roles = counted(() => [role('app')]);
      const databases = counted(() => [database('app')]);
      const endpoints = counted(() => [
        endpoint('ep-1', { current_state: 'active', pending_state: undefined }),
        endpoint('ep-2', { branch_id: 'br-2', current_state: 'active', pending_state: undefined }),
      ]);
      const read = async () => {
        await view.endpoints('p', endpoints);
        await view.roles('p', 'br-1', roles);
        await view.databases('p', 'br-1', databases);
      };
      return { view, add, addOwn, ops, pages, changes, roles, databases, endpoints, read };
    }

    it('keeps a branch\'s role and database lists past maxAge while the operations show nothing new: one operations page per maxAge', async () => {
      const clock = new FakeClock();
      const p = project(clock);
      p.add('op-old', { action: 'create_branch' });
      await clock.advance(10);
      await p.read();
      expect(p.pages).toHaveLength(1); // the first check: a baseline
      for (let i = 0; i < 5; i++) {
        await clock.advance(1_000);
        await p.read();
      }
      expect(p.roles.calls).toBe(1);
      expect(p.databases.calls).toBe(1);
      expect(p.endpoints.calls).toBe(6); // read every maxAge
      expect(p.pages).toHaveLength(6);
      expect(p.changes).toEqual([]);
    });

    it('reads a branch\'s lists again after an operation the operator did not start, and reports the change', async () => {
      const clock = new FakeClock();
      const p = project(clock);
      await p.read();
      await clock.advance(500);
      p.add('op-foreign');
      await p.read(); // the last check is recent: not seen yet
      expect(p.roles.calls).toBe(1);
      await clock.advance(600);
      await p.read();
      expect(p.roles.calls).toBe(2);
      expect(p.databases.calls).toBe(2);
      expect(p.changes).toEqual(['p']);
      // Seen once: the next check does not count it again.
      await clock.advance(1_000);
      await p.read();
      expect(p.roles.calls).toBe(2);
      expect(p.changes).toEqual(['p']);
    });

    it('does not count a compute\'s start or suspend, nor the operator\'s own written-through change; an own role delete still rereads the databases', async () => {
      const clock = new FakeClock();
      const p = project(clock);
      await p.read();
      await clock.advance(100);
      p.add('op-suspend', { action: 'suspend_compute' });
      p.addOwn('op-own');
      await clock.advance(1_000);
      await p.read();
      expect([p.roles.calls, p.databases.calls]).toEqual([1, 1]);
      p.addOwn('op-role-delete', 'roles');
      await clock.advance(1_000);
      await p.read();
      expect([p.roles.calls, p.databases.calls]).toEqual([1, 2]);
    });

    it('reads the lists of a branch without a compute every maxAge (Neon may start no operation there)', async () => {
      const clock = new FakeClock();
      const p = project(clock);
      const noCompute = counted(() => [{ ...role('app'), branch_id: 'br-3' }]);
      await p.read();
      await p.view.roles('p', 'br-3', noCompute);
      await clock.advance(1_000);
      await p.read();
      await p.view.roles('p', 'br-3', noCompute);
      expect(noCompute.calls).toBe(2);
      expect(p.roles.calls).toBe(1);
    });

    it('forgets every role and database list when a check cannot reach back to what the last one saw', async () => {
      const clock = new FakeClock();
      const p = project(clock);
      await p.read();
      await clock.advance(60_000);
      for (let i = 0; i < 9_200; i++) p.add(`op-own-${String(i)}`, { action: 'start_compute' });
      await clock.advance(1_000);
      await p.read();
      expect(p.pages).toHaveLength(1 + 10);
      expect(p.roles.calls).toBe(2);
      expect(p.changes).toEqual(['p']);
    });

    it('a snapshot restored into a new view serves role and database lists after one check of the operations; a branch changed meanwhile is read again', async () => {
      const clock = new FakeClock();
      const p = project(clock);
      await p.read();
      p.addOwn('op-own');
      await p.view.roles('p', 'br-2', counted(() => [{ ...role('app'), branch_id: 'br-2' }]));
      const snapshot = JSON.parse(JSON.stringify(p.view.snapshot())) as ViewSnapshot;
      expect(Object.keys(snapshot.projects)).toEqual(['p']);

      // A later process reads the same project, where someone changed br-2 since the snapshot. The snapshot is
      // recent (within maxAge), yet nothing is served by age: the branch and compute lists are read again.
      await clock.advance(500);
      p.add('op-foreign', { branch_id: 'br-2' });
      const later = project(clock, p.ops);
      expect(later.view.restore(snapshot)).toBe(1);
      await later.read();
      expect(later.endpoints.calls).toBe(1);
      expect(later.pages).toHaveLength(1); // checked at once, one page reaches back to the snapshot
      expect([later.roles.calls, later.databases.calls]).toEqual([0, 0]);
      const br2 = counted(() => [{ ...role('app'), branch_id: 'br-2' }]);
      await later.view.roles('p', 'br-2', br2);
      expect(br2.calls).toBe(1);
      expect(later.changes).toEqual(['p']);
      // A project this process already knows keeps what it has.
      expect(later.view.restore(snapshot)).toBe(0);
    });

    it('a change the old process made after its snapshot (its write-through lost) makes the restored lists be read again', async () => {
      const clock = new FakeClock();
      const p = project(clock);
      await p.read();
      const snapshot = JSON.parse(JSON.stringify(p.view.snapshot())) as ViewSnapshot;
      // After the snapshot the old process creates a database on br-1: its own change, unknown to the snapshot.
      await clock.advance(100);
      p.addOwn('op-db-create');
      const later = project(clock, p.ops);
      later.view.restore(snapshot);
      await later.read();
      expect([later.roles.calls, later.databases.calls]).toEqual([1, 1]);
    });

    it('reports a branch or compute that differs from the last read, but not one whose usage or timestamps moved', async () => {
      const clock = new FakeClock();
      const p = project(clock);
      let current = [{ branch: branch('br-1') }];
      const branches = counted<ViewBranch>(() => current);
      await p.view.branches('p', branches);
      current = [{ branch: branch('br-1', { updated_at: '2026-01-02T00:00:00Z', logical_size: 42 }) }];
      await clock.advance(1_000);
      await p.view.branches('p', branches);
      expect(p.changes).toEqual([]);
      current = [{ branch: branch('br-1', { protected: true }) }];
      await clock.advance(1_000);
      await p.view.branches('p', branches);
      expect(p.changes).toEqual(['p']);
    });
  });
});
