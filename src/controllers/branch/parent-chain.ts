import { parseNeonBranch, type NeonBranch } from '../../api/index.ts';
import { BlockedError } from '../shared/blocked.ts';
import type { ControllerDeps } from '../shared/deps.ts';
import { resourceTypes } from '../shared/kinds.ts';
import { lookup } from '../shared/references.ts';

/**
 * The NeonBranch names on the way from `start` through spec.parentRef, ending with the first name seen
 * twice when the chain loops back to `start` (`[a, b, a]`); undefined when it does not (it ends, or it
 * runs into a loop `start` is not part of, which the branches of that loop report themselves).
 * `parentOf` answers from the informer store: undefined for a branch that is absent or has no parentRef.
 */
export function parentCycle(start: string, parentOf: (name: string) => string | undefined): string[] | undefined {
  const chain = [start];
  const seen = new Set(chain);
  for (let parent = parentOf(start); parent !== undefined; parent = parentOf(parent)) {
    chain.push(parent);
    if (parent === start) return chain;
    if (seen.has(parent)) return undefined;
    seen.add(parent);
  }
  return undefined;
}

/**
 * Throws BlockedError(InvalidSpec) naming the chain when the branch's parentRef leads back to itself: it
 * would wait for itself forever. Not retried on a timer: the object, or a branch of the chain (which
 * requeues its child), changing brings it back.
 */
export function assertNoParentCycle(deps: ControllerDeps, b: NeonBranch): void {
  const namespace = b.metadata.namespace ?? '';
  const parentOf = (name: string): string | undefined =>
    name === b.metadata.name ? b.spec.parentRef?.name : lookup(deps, resourceTypes.branch, namespace, name, parseNeonBranch)?.spec.parentRef?.name;
  const cycle = parentCycle(b.metadata.name, parentOf);
  if (!cycle) return;
  const message =
    cycle.length === 2
      ? `spec.parentRef names this NeonBranch itself (${b.metadata.name}); a branch cannot be its own parent`
      : `spec.parentRef forms a cycle: ${cycle.join(' → ')}; one of these NeonBranches must name another parent`;
  throw new BlockedError('InvalidSpec', message, 'onChange');
}
