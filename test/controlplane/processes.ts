// Child processes of the test control plane: each runs in its own process group (spawned `detached`) so a
// signal to the group also reaches anything it forked, writes stdout+stderr to a log file, and is recorded in
// a registry that kills every group and removes every temp dir when this Node process exits or is interrupted.
// A small `sh` watchdog per control plane covers the one case those handlers cannot: this process being
// SIGKILLed (e.g. a CI time-out), after which it stops the groups and removes the temp dir within seconds.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const liveGroups = new Set<number>();
const tempDirs = new Set<string>();
let handlersInstalled = false;

function killGroupSync(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function cleanupSync(): void {
  for (const pgid of liveGroups) killGroupSync(pgid, 'SIGKILL');
  liveGroups.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanupSync();
      // When nobody else handles the signal, restore its default effect (terminate) by re-raising it.
      if (process.listenerCount(signal) === 1) {
        process.off(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

/** Registers a temp dir to be removed when this process exits, if {@link releaseTempDir} was not called first. */
export function trackTempDir(dir: string): void {
  installExitHandlers();
  tempDirs.add(dir);
}

/** Removes a temp dir now and forgets it. */
export function releaseTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** A long-running child process with its output in a log file. */
export class ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  readonly pid: number;
  readonly #child: ChildProcess;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly #exited: Promise<void>;

  constructor(name: string, command: string, args: readonly string[], logFile: string, cwd: string) {
    installExitHandlers();
    this.name = name;
    this.logFile = logFile;
    const fd = openSync(logFile, 'a');
    try {
      writeFileSync(fd, `# ${command} ${args.join(' ')}\n`);
      this.#child = spawn(command, args, { cwd, detached: true, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    if (this.#child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
    this.pid = this.#child.pid;
    liveGroups.add(this.pid);
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve();
      });
      this.#child.once('error', () => resolve());
    });
    // The test process must be able to exit while the child still runs (the exit handler then kills it).
    this.#child.unref();
  }

  /** Undefined while running; otherwise how it ended. */
  get exitStatus(): string | undefined {
    if (this.#exit === undefined) return undefined;
    return this.#exit.signal ? `signal ${this.#exit.signal}` : `exit code ${String(this.#exit.code)}`;
  }

  /** Sends `signal` to the process group (SIGKILL: no chance to clean up) and resolves once the process has exited. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.#exit === undefined) {
      killGroupSync(this.pid, signal);
      await this.#exited;
    }
    killGroupSync(this.pid, 'SIGKILL');
    liveGroups.delete(this.pid);
  }

  /** SIGTERM to the process group, then SIGKILL after `graceMs`; resolves once the process has exited. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#exit === undefined) {
      killGroupSync(this.pid, 'SIGTERM');
      const timedOut = await Promise.race([this.#exited.then(() => false), sleep(graceMs).then(() => true)]);
      if (timedOut) {
        killGroupSync(this.pid, 'SIGKILL');
        await this.#exited;
      }
    }
    // Anything the process forked into its group goes too.
    killGroupSync(this.pid, 'SIGKILL');
    liveGroups.delete(this.pid);
  }
}

/** The last `lines` lines of a log file ('' when it cannot be read). */
export function tailFile(path: string, lines: number): string {
  try {
    const text = readFileSync(path, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '';
  }
}

/**
 * Starts the watchdog: when this Node process is gone it sends SIGTERM, then SIGKILL, to every process group
 * listed in `pgidFile` and removes `dir`. Returns a function that stops the watchdog (call before a normal stop).
 */
export function startWatchdog(pgidFile: string, dir: string): () => void {
  const script = [
    'while kill -0 "$1" 2>/dev/null; do sleep 1; done',
    'for g in $(cat "$2" 2>/dev/null); do kill -TERM -"$g" 2>/dev/null; done',
    'sleep 3',
    'for g in $(cat "$2" 2>/dev/null); do kill -KILL -"$g" 2>/dev/null; done',
    'rm -rf "$3"',
  ].join('\n');
  const child = spawn('sh', ['-c', script, 'controlplane-watchdog', String(process.pid), pgidFile, dir], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
  const pid = child.pid;
  if (pid !== undefined) liveGroups.add(pid);
  return () => {
    if (pid === undefined) return;
    killGroupSync(pid, 'SIGKILL');
    liveGroups.delete(pid);
  };
}
