// The operator as a real process (`node src/main.ts`, as the image runs it), with its JSON log lines kept in
// a file and in memory so a test can read what it did. Killed when the test process exits, whatever happens.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

/** One pino log line (the fields the tests read; the rest passes through). */
export const logLineSchema = z.looseObject({ level: z.number(), msg: z.string().optional() });
export type LogLine = z.infer<typeof logLineSchema> & Record<string, unknown>;

export interface OperatorProcessOptions {
  /** Working directory with src/ and node_modules/ (the repository, or an install made like the image's). */
  cwd: string;
  /** The Node binary (Node 24). */
  node: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  logFile: string;
}

export class OperatorProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  /** Output that was not a JSON log line (a crash trace, a usage message). */
  readonly rawOutput: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #log: WriteStream;

  constructor(options: OperatorProcessOptions) {
    installExitHook();
    this.#log = createWriteStream(options.logFile, { flags: 'a' });
    this.child = spawn(options.node, ['src/main.ts', ...options.args], {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(this.child);
    const onData = (chunk: Buffer): void => {
      this.#log.write(chunk);
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const parsed = logLineSchema.safeParse(JSON.parse(line));
          if (parsed.success) this.lines.push(parsed.data as LogLine);
          else this.rawOutput.push(line);
        } catch {
          this.rawOutput.push(line);
        }
      }
    };
    // Lines can be split across chunks: buffer up to each newline, and flush the rest when the stream ends.
    const lineBuffered = (stream: NodeJS.ReadableStream | null): void => {
      let pending = '';
      stream?.on('data', (chunk: Buffer) => {
        const text = pending + chunk.toString('utf8');
        const cut = text.lastIndexOf('\n');
        pending = cut < 0 ? text : text.slice(cut + 1);
        if (cut >= 0) onData(Buffer.from(text.slice(0, cut + 1)));
      });
      stream?.on('end', () => {
        if (pending) onData(Buffer.from(pending));
        pending = '';
      });
    };
    lineBuffered(this.child.stdout);
    lineBuffered(this.child.stderr);
    this.exited = new Promise((resolve) => {
      // 'close' comes after the output streams have ended, so every log line has been read by then.
      this.child.once('close', (code, signal) => {
        running.delete(this.child);
        this.#log.end();
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Log lines whose message matches. */
  logged(msg: string | RegExp): LogLine[] {
    return this.lines.filter((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg ?? '')));
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `timeoutMs`, reported as such). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const result = await Promise.race([this.exited, sleep(timeoutMs).then(() => undefined)]);
    if (result) return result;
    this.child.kill('SIGKILL');
    return this.exited;
  }
}

/** A free TCP port on 127.0.0.1 (for the operator's metrics server). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** GET on the operator's HTTP server: status and body, or undefined while it does not answer. */
export async function httpGet(url: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}
