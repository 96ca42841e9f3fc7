// Options are read as own properties only, as Node reads its own: a value set on
// Object.prototype (a prototype-pollution bug anywhere in the agent) must never become a
// shell, a uid, an environment or a cgroup of a child.

/**
 * A null-prototype copy of the own enumerable properties of `options` (nothing for null or
 * undefined), as Node's `{ __proto__: null, ...options }`.
 */
export function ownOptions<T extends object>(options: T | null | undefined): T {
  return { __proto__: null, ...options } as unknown as T;
}

/** Whether `key` was given in `options` itself: `key in options` would also see the prototype. */
export function hasOwnOption(options: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(options, key);
}
