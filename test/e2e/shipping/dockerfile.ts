// Just enough of a Dockerfile interpreter to replay the operator image's recipe without a Docker engine:
// stages (FROM … AS), WORKDIR, ENV, COPY (from the build context through .dockerignore, or --from a stage),
// RUN (a shell command in the stage's WORKDIR), and the final stage's USER / ENTRYPOINT / STOPSIGNAL. Any
// other instruction or form is an error, so the Dockerfile cannot drift from what CI exercises.
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, matchesGlob, posix, relative } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type Instruction =
  | { op: 'FROM'; image: string; stage: string | undefined }
  | { op: 'WORKDIR'; path: string }
  | { op: 'ENV'; name: string; value: string }
  | { op: 'COPY'; from: string | undefined; sources: string[]; dest: string }
  | { op: 'RUN'; command: string }
  | { op: 'USER'; user: string }
  | { op: 'ENTRYPOINT'; argv: string[] }
  | { op: 'STOPSIGNAL'; signal: string };

export interface Stage {
  name: string | undefined;
  image: string;
  instructions: Instruction[];
}

/** Parses a Dockerfile into stages. Comments, blank lines and `\` continuations are handled; the syntax directive is a comment. */
export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(current + line);
    current = '';
  }
  const stages: Stage[] = [];
  for (const line of logical) {
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (!m?.[1] || m[2] === undefined) throw new Error(`Dockerfile: cannot read "${line}"`);
    const op = m[1].toUpperCase();
    const rest = m[2].trim();
    if (op === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!from?.[1]) throw new Error(`Dockerfile: FROM ${rest}`);
      stages.push({ name: from[2], image: from[1], instructions: [{ op: 'FROM', image: from[1], stage: from[2] }] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile: ${op} before FROM`);
    const push = (i: Instruction): void => void stage.instructions.push(i);
    switch (op) {
      case 'WORKDIR':
        push({ op, path: rest });
        break;
      case 'ENV': {
        const env = /^([A-Za-z_][A-Za-z0-9_]*)=(\S*)$/.exec(rest);
        if (!env?.[1] || env[2] === undefined) throw new Error(`Dockerfile: only ENV NAME=value is supported: ${rest}`);
        push({ op, name: env[1], value: env[2] });
        break;
      }
      case 'COPY': {
        if (rest.startsWith('[')) throw new Error('Dockerfile: JSON-form COPY is not supported by the recipe test');
        const words = rest.split(/\s+/);
        let from: string | undefined;
        while (words[0]?.startsWith('--')) {
          const flag = words.shift() as string;
          const f = /^--from=(\S+)$/.exec(flag);
          if (!f?.[1]) throw new Error(`Dockerfile: COPY flag ${flag} is not supported by the recipe test`);
          from = f[1];
        }
        const dest = words.pop();
        if (!dest || words.length === 0) throw new Error(`Dockerfile: COPY ${rest}`);
        push({ op, from, sources: words, dest });
        break;
      }
      case 'RUN':
        if (rest.startsWith('[') || rest.startsWith('--')) throw new Error('Dockerfile: only shell-form RUN without flags is supported');
        push({ op, command: rest });
        break;
      case 'USER':
        push({ op, user: rest });
        break;
      case 'ENTRYPOINT': {
        const argv: unknown = JSON.parse(rest);
        if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) throw new Error('Dockerfile: ENTRYPOINT must be exec form');
        push({ op, argv });
        break;
      }
      case 'STOPSIGNAL':
        push({ op, signal: rest });
        break;
      default:
        throw new Error(`Dockerfile: instruction ${op} is not supported by the recipe test`);
    }
  }
  return stages;
}

/** .dockerignore rules in order; the last rule matching a path (or one of its parent folders) decides. */
export function parseDockerignore(text: string): { pattern: string; exclude: boolean }[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const exclude = !l.startsWith('!');
      const pattern = posix.normalize((exclude ? l : l.slice(1)).replace(/^\/+/, '')).replace(/\/+$/, '');
      return { pattern, exclude };
    });
}

export function isIgnored(rules: { pattern: string; exclude: boolean }[], path: string): boolean {
  const candidates = [path];
  for (let p = posix.dirname(path); p !== '.' && p !== '/'; p = posix.dirname(p)) candidates.push(p);
  let ignored = false;
  for (const rule of rules) if (candidates.some((c) => matchesGlob(c, rule.pattern))) ignored = rule.exclude;
  return ignored;
}

async function listFiles(root: string, dir = root): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(root, path)));
    else out.push(relative(root, path).split('\\').join('/'));
  }
  return out;
}

export interface BuildResult {
  /** Each stage's root filesystem, by index. */
  roots: string[];
  /** The final stage's WORKDIR on disk. */
  appDir: string;
  final: Stage;
  /** The final stage's ENV (NAME → value). */
  env: Record<string, string>;
}

/**
 * Replays the Dockerfile: each stage gets a folder under `outDir` as its root; COPY and RUN act there. RUN
 * runs under `sh -c` with `env` plus the stage's ENV, so `npm`/`node` are whatever `env.PATH` gives.
 */
export async function replayDockerfile(stages: Stage[], context: string, outDir: string, env: NodeJS.ProcessEnv): Promise<BuildResult> {
  const rules = parseDockerignore(await readFile(join(context, '.dockerignore'), 'utf8').catch(() => ''));
  const contextFiles = (await listFiles(context)).filter((f) => !isIgnored(rules, f));
  const roots: string[] = [];
  const byName = new Map<string, number>();
  let workdir = '/';
  let stageEnv: Record<string, string> = {};
  for (const [index, stage] of stages.entries()) {
    const root = join(outDir, `stage-${index}`);
    await mkdir(root, { recursive: true });
    roots.push(root);
    if (stage.name) byName.set(stage.name, index);
    workdir = '/';
    stageEnv = {};
    const inRoot = (p: string): string => join(root, posix.resolve(workdir, p));
    for (const ins of stage.instructions) {
      switch (ins.op) {
        case 'WORKDIR':
          workdir = posix.resolve(workdir, ins.path);
          await mkdir(inRoot('.'), { recursive: true });
          break;
        case 'ENV':
          stageEnv[ins.name] = ins.value;
          break;
        case 'COPY':
          for (const source of ins.sources) {
            const dest = ins.dest.endsWith('/') || ins.sources.length > 1 ? posix.join(ins.dest, posix.basename(source)) : ins.dest;
            if (ins.from !== undefined) {
              const from = byName.get(ins.from);
              if (from === undefined) throw new Error(`COPY --from=${ins.from}: no such stage`);
              await cp(join(roots[from] as string, source), inRoot(dest), { recursive: true });
              continue;
            }
            const clean = posix.normalize(source).replace(/\/+$/, '');
            const files = contextFiles.filter((f) => f === clean || f.startsWith(`${clean}/`));
            if (files.length === 0) throw new Error(`COPY ${source}: nothing in the build context (after .dockerignore)`);
            for (const f of files) {
              const target = f === clean ? inRoot(dest) : join(inRoot(dest), f.slice(clean.length + 1));
              await mkdir(dirname(target), { recursive: true });
              await cp(join(context, f), target);
            }
          }
          break;
        case 'RUN':
          await execFileAsync('sh', ['-c', ins.command], { cwd: inRoot('.'), env: { ...env, ...stageEnv }, maxBuffer: 64 * 1024 * 1024 });
          break;
        default:
          break;
      }
    }
  }
  const final = stages.at(-1);
  if (!final) throw new Error('Dockerfile has no stage');
  const appDir = join(roots.at(-1) as string, workdir);
  if (!(await stat(appDir)).isDirectory()) throw new Error(`final WORKDIR ${workdir} does not exist`);
  return { roots, appDir, final, env: stageEnv };
}
