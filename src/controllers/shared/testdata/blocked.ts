import { BlockedError } from '../blocked.ts';

/** The BlockedError `fn` throws, or undefined when it returns; any other error is rethrown. */
export function blockedBy(fn: () => void): BlockedError | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof BlockedError) return err;
    throw err;
  }
  return undefined;
}
