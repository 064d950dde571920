/**
 * "Who references X": a two-way index from dependents to the keys they reference. Kept up to date from
 * the dependents' informer events so that, when X changes, the dependents can be requeued without
 * scanning every object.
 */
export class ReferenceIndex {
  readonly #forward = new Map<string, Set<string>>();
  readonly #reverse = new Map<string, Set<string>>();

  /** Records that `dependent` references exactly `refs` (replacing what it referenced before). */
  set(dependent: string, refs: Iterable<string>): void {
    this.delete(dependent);
    const set = new Set(refs);
    if (set.size === 0) return;
    this.#forward.set(dependent, set);
    for (const ref of set) {
      let deps = this.#reverse.get(ref);
      if (!deps) this.#reverse.set(ref, (deps = new Set()));
      deps.add(dependent);
    }
  }

  delete(dependent: string): void {
    const refs = this.#forward.get(dependent);
    if (!refs) return;
    this.#forward.delete(dependent);
    for (const ref of refs) {
      const deps = this.#reverse.get(ref);
      deps?.delete(dependent);
      if (deps?.size === 0) this.#reverse.delete(ref);
    }
  }

  dependentsOf(ref: string): string[] {
    return [...(this.#reverse.get(ref) ?? [])];
  }

  referencesOf(dependent: string): string[] {
    return [...(this.#forward.get(dependent) ?? [])];
  }
}
