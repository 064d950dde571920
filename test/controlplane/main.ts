// `npm run controlplane:up`: starts a control plane for manual work or a demo, prints how to reach it, and
// keeps it running until Ctrl-C (or SIGTERM), then stops every process and removes its temp folder.
//   node test/controlplane/main.ts [--crds DIR]...
import { parseArgs } from 'node:util';
import { startControlPlane } from './harness.ts';

const { values } = parseArgs({ options: { crds: { type: 'string', multiple: true } } });
const started = Date.now();
const cp = await startControlPlane();
for (const dir of values.crds ?? []) {
  const names = await cp.installCrds(dir);
  process.stdout.write(`installed CRDs from ${dir}: ${names.join(', ') || '(none)'}\n`);
}
process.stdout.write(
  `control plane ready in ${String(Date.now() - started)} ms\n` +
    `  export KUBECONFIG=${cp.kubeconfigPath}\n` +
    `  server ${cp.server}, logs in ${cp.logsDir}\n` +
    'Ctrl-C stops it.\n',
);
const keepAlive = setInterval(() => undefined, 60_000);
const shutdown = (): void => {
  clearInterval(keepAlive);
  cp.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`stopping the control plane failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
