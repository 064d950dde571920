import { afterAll, beforeAll } from 'vitest';
import { ManualClock } from './manual-clock.ts';
import { RawClient } from './raw-client.ts';
import { startEmulator, type EmulatorHandle, type EmulatorOptions } from './server.ts';

/** The emulator as its own tests use it: a manual clock, no rate limits, answers checked against the spec. */
export interface EmulatorUnderTest {
  readonly clock: ManualClock;
  readonly em: EmulatorHandle;
  readonly api: RawClient;
  /** Moves the clock far enough for every queued operation to end. */
  settle(): void;
  /** Creates a project (and lets its operations end); its IDs and the default role's password. */
  newProject(project?: Record<string, unknown>): Promise<{ id: string; mainId: string; endpointId: string; password: string }>;
}

/**
 * Starts one emulator before the file's tests and stops it after them (failing on any off-spec answer).
 * `options` adds to the defaults (e.g. `postgres: true`).
 */
export function useEmulatorUnderTest(options: EmulatorOptions = {}): EmulatorUnderTest {
  const clock = new ManualClock();
  let em: EmulatorHandle | undefined;
  let api: RawClient | undefined;
  beforeAll(async () => {
    em = await startEmulator({ clock, limits: false, validateResponses: true, ...options });
    api = new RawClient(em.url);
  });
  afterAll(async () => {
    await em?.stop();
  });
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the emulator is started in beforeAll');
    return v;
  };
  const t: EmulatorUnderTest = {
    clock,
    get em() {
      return started(em);
    },
    get api() {
      return started(api);
    },
    settle: () => clock.advance(60_000),
    async newProject(project = {}) {
      const res = await t.api.post('/projects', { project });
      if (res.status !== 201) throw new Error(`create project answered ${res.status}: ${JSON.stringify(res.body)}`);
      t.settle();
      return {
        id: res.body.project.id as string,
        mainId: res.body.branch.id as string,
        endpointId: res.body.endpoints[0].id as string,
        password: res.body.roles[0].password as string,
      };
    },
  };
  return t;
}
