// setupFiles entry of the e2e project: when a test fails, print the tails of the control-plane logs, since the
// cause (an admission error, a crashed controller manager) is often only visible there.
import { afterEach } from 'vitest';
import { useControlPlane } from './e2e.ts';

afterEach(({ task }) => {
  if (task.result?.state !== 'fail') return;
  const cp = useControlPlane();
  if (cp.external) return;
  process.stderr.write(`\ncontrol-plane logs for failed test "${task.name}" (${cp.logsDir}):\n${cp.logTails(30)}\n`);
});
