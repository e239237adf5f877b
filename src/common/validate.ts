import { z } from 'zod';
import { ErrorCode, QingtianError } from './errors.js';

/**
 * Boundary validation (docs/design.md, convention 10): API options are parsed once with a zod
 * schema; a failure becomes QT_INVALID_ARGUMENT naming the field, what is accepted and what was
 * given. Inner code then trusts the parsed value.
 */
export function parseArgs<S extends z.ZodType>(schema: S, input: unknown, where: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = issue.path.map(String).join('.');
  const field = path ? `${where}.${path}` : where;
  const got = valueAt(input, issue.path);
  throw new QingtianError(ErrorCode.InvalidArgument, `${field}: expected ${issue.message}, got ${describe(got)}`, {
    field,
    got,
  });
}

/** An integer in [min, max]; the range is the error message, so it always names the bounds. */
export function intIn(min: number, max: number): z.ZodNumber {
  return integer(min, max, `an integer in [${min}, ${max}]`);
}

/** A multiple of `step` in [min, max]. */
export function multipleIn(step: number, min: number, max: number): z.ZodNumber {
  return integer(min, max, `a multiple of ${step} in [${min}, ${max}]`).multipleOf(step, {
    error: `a multiple of ${step} in [${min}, ${max}]`,
  });
}

function integer(min: number, max: number, accepted: string): z.ZodNumber {
  return z
    .number({ error: accepted })
    .int({ error: accepted })
    .min(min, { error: accepted })
    .max(max, { error: accepted });
}

/** A non-empty string of at most `max` characters. */
export function nameString(max: number): z.ZodString {
  const accepted = `a non-empty string of at most ${max} characters`;
  return z.string({ error: accepted }).min(1, { error: accepted }).max(max, { error: accepted });
}

/** One of the listed strings. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T): z.ZodEnum<{ [K in T[number]]: K }> {
  return z.enum(values, { error: `one of ${values.map((v) => `'${v}'`).join(', ')}` });
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v === undefined) return 'nothing';
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object';
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return v.toString();
  return `${v as number | boolean | null}`;
}
