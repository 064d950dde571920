/**
 * The API group of the operator's custom resources. It is this project's own domain, not `neon.tech`
 * (Neon's), so nothing Neon ships can ever collide with it.
 */
export const API_GROUP = 'neon-operator.dev';
export const API_VERSION = 'v1alpha1';
/** `apiVersion` as it appears in manifests. */
export const API_GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;
/** `kubectl get neon` lists every kind of this operator. */
export const API_CATEGORY = 'neon';

/**
 * Setting (or changing the value of) this annotation on a NeonRole asks the operator to reset the role's
 * password in Neon and update its connection Secret. Any value works; a timestamp is customary. The value
 * that was last acted on is kept in `status.passwordRotation.request`.
 */
export const ROTATE_PASSWORD_ANNOTATION = `${API_GROUP}/rotate-password`;

/**
 * `"true"` on any object of the operator pauses it: no Neon call and no change for it (not even on deletion,
 * where the finalizer stays) until the annotation is removed or set to another value; the `Paused`
 * condition says so. For maintenance and for fixing something by hand in Neon's console.
 */
export const PAUSED_ANNOTATION = `${API_GROUP}/paused`;

/**
 * Setting (or changing the value of) this annotation on a NeonBranch restores the branch to its parent's
 * latest state (Neon's branch restore), keeping its ID and computes. Any value works; a commit SHA suits a
 * preview environment. The value last acted on is kept in `status.reset.request`.
 */
export const RESET_FROM_PARENT_ANNOTATION = `${API_GROUP}/reset-from-parent`;

/**
 * With a reset (above): keep the branch's state before the reset in a new Neon branch of this name (Neon's
 * `preserve_under_name`). It becomes the parent of the reset branch and takes over its child branches, which
 * Neon requires when the branch has children. The preserved branch is not managed by the operator; a name
 * can be used once, so give each reset its own (e.g. with the same commit SHA).
 */
export const RESET_PRESERVE_UNDER_NAME_ANNOTATION = `${API_GROUP}/reset-preserve-under-name`;
