// Writes the CRDs generated from src/api/ into crds/ (or the folder given with --out, e.g. the chart's).
// With --check it writes nothing and exits 1 when the folder is out of date (for CI).
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { API_GROUP } from '../src/api/group.ts';
import { generateCrdFiles } from '../src/api/crd.ts';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: resolve(import.meta.dirname, '..', 'crds') },
    check: { type: 'boolean', default: false },
  },
});
const outDir = resolve(values.out);
const files = generateCrdFiles();

await mkdir(outDir, { recursive: true });
const existing = (await readdir(outDir)).filter((f) => f.startsWith(`${API_GROUP}_`) && f.endsWith('.yaml'));
const stale: string[] = [];

for (const [name, text] of files) {
  const path = join(outDir, name);
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === text) continue;
  stale.push(name);
  if (!values.check) await writeFile(path, text);
}
// A kind that was removed from src/api/ must not linger as a CRD.
for (const name of existing.filter((f) => !files.has(f))) {
  stale.push(name);
  if (!values.check) await rm(join(outDir, name));
}

if (values.check) {
  if (stale.length > 0) {
    console.error(`CRDs in ${outDir} are out of date (${stale.join(', ')}): run npm run generate`);
    process.exitCode = 1;
  } else {
    console.log(`CRDs in ${outDir} are up to date`);
  }
} else {
  console.log(stale.length > 0 ? `updated ${stale.join(', ')} in ${outDir}` : `CRDs in ${outDir} already up to date`);
}
