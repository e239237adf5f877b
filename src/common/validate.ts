import { z } from 'zod';
import { ErrorCode, QingtianError } from './errors.js';

/**
 * Boundary validation (docs/design.md, convention 10): API options are parsed once with a strict
 * zod schema (`z.strictObject`: unknown keys are refused, nested objects included); a failure
 * becomes QT_INVALID_ARGUMENT naming the field, what is accepted and what was given. Inner code
 * then trusts the parsed value.
 *
 * An unknown key is reported before any other fault of the same object, since a misspelt key is
 * usually why a field looks missing: `Host options.dpu: unknown key 'core' (accepted: cores, …)`.
 */
export function parseArgs<S extends z.ZodType>(schema: S, input: unknown, where: string): z.output<S> {
  const r = schema.safeParse(input, { error: plainMessage });
  if (r.success) return r.data;
  const issues = r.error.issues;
  const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!;
  const path = issue.path.map(String).join('.');
  const field = path ? `${where}.${path}` : where;
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys;
    const accepted = acceptedKeys(schema, issue.path);
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${field}: unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `'${k}'`).join(', ')}` +
        (accepted ? ` (accepted: ${accepted.join(', ')})` : ''),
      { field, unknownKeys: [...keys], accepted },
    );
  }
  const got = valueAt(input, issue.path);
  throw new QingtianError(ErrorCode.InvalidArgument, `${field}: expected ${issue.message}, got ${describe(got)}`, {
    field,
    got,
  });
}

/**
 * Refuses keys of `obj` outside `accepted`, with parseArgs's message. For hot paths that check
 * plain objects by hand instead of with a schema (classifier rules, CC events).
 */
export function rejectUnknownKeys(obj: object, accepted: readonly string[], field: string): void {
  for (const k of Object.keys(obj)) {
    if (!accepted.includes(k))
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${field}: unknown key '${k}' (accepted: ${accepted.join(', ')})`,
        { field, unknownKeys: [k], accepted: [...accepted] },
      );
  }
}

/** The `count` of a zero-copy burst: an integer in [0, 2^24]. */
export function countArg(where: string, count: unknown): number {
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > 1 << 24)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${where}: count: expected an integer in [0, ${1 << 24}], got ${describe(count)}`,
      { field: 'count' },
    );
  return count;
}

/**
 * The `out` argument of a burst call: a caller's Int32Array of at least `n` entries, or (absent)
 * a new one.
 */
export function outArray(where: string, out: unknown, n: number): Int32Array {
  if (out === undefined) return new Int32Array(n);
  if (!(out instanceof Int32Array) || out.length < n)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${where}: out: expected an Int32Array of at least ${n} entries, got ${describe(out)}`,
      { field: 'out' },
    );
  return out;
}

/** A plain-words description of a value, as the messages put it after "got". */
export function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'object') {
    if (Array.isArray(v))
      return v.length <= 8 && v.every((x) => typeof x === 'number' || typeof x === 'string')
        ? `[${v.map(describe).join(', ')}]`
        : `an array of ${v.length}`;
    if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of ${(v as Uint8Array).length}`;
    return 'an object';
  }
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return v.toString();
  return `${v as number | boolean}`;
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

/** A KernelRuntime (an object with `memory` and `kernel`): the `runtime` option of every data-path class. */
export function runtimeOption<T>(): z.ZodOptional<z.ZodCustom<T>> {
  return z
    .custom<T>((v) => typeof v === 'object' && v !== null && 'memory' in v && 'kernel' in v, {
      error: 'a KernelRuntime (defaultRuntime() or host.runtime)',
    })
    .optional();
}

const ARTICLE: Record<string, string> = {
  object: 'an object',
  array: 'an array',
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'a boolean',
  bigint: 'a bigint',
  function: 'a function',
  symbol: 'a symbol',
  undefined: 'nothing',
  null: 'null',
  date: 'a Date',
};

/** Zod's default texts ("Invalid input: expected object, received undefined") in the project's words. */
function plainMessage(iss: z.core.$ZodRawIssue): string {
  switch (iss.code) {
    case 'invalid_type':
      return ARTICLE[iss.expected] ?? `a ${iss.expected}`;
    case 'too_small':
      return iss.origin === 'array'
        ? `an array of at least ${String(iss.minimum)} entries`
        : iss.origin === 'string'
          ? `a string of at least ${String(iss.minimum)} characters`
          : `a value >= ${String(iss.minimum)}`;
    case 'too_big':
      return iss.origin === 'array'
        ? `an array of at most ${String(iss.maximum)} entries`
        : iss.origin === 'string'
          ? `a string of at most ${String(iss.maximum)} characters`
          : `a value <= ${String(iss.maximum)}`;
    case 'invalid_value':
      return `one of ${iss.values.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(', ')}`;
    case 'invalid_format':
      return iss.format === 'regex' && 'pattern' in iss
        ? `a string matching ${String(iss.pattern)}`
        : `a ${iss.format}`;
    case 'invalid_union':
      return 'one of the accepted forms';
    case 'not_multiple_of':
      return `a multiple of ${String(iss.divisor)}`;
    case 'unrecognized_keys':
      return `no key ${iss.keys.map((k) => `'${k}'`).join(', ')}`;
    case 'custom':
    case 'invalid_element':
    case 'invalid_key':
      return 'a valid value';
  }
}

/** The keys the object schema at `path` accepts (for the unknown-key message), or null. */
function acceptedKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] | null {
  const shapes = objectsAt(schema, path);
  if (shapes.length === 0) return null;
  return [...new Set(shapes.flatMap((s) => Object.keys(s)))];
}

type Def = { type: string; [k: string]: unknown };
const defOf = (s: unknown): Def => (s as { _zod: { def: Def } })._zod.def;

function objectsAt(schema: unknown, path: readonly PropertyKey[]): Record<string, unknown>[] {
  const d = defOf(schema);
  switch (d.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'nonoptional':
    case 'catch':
      return objectsAt(d['innerType'], path);
    case 'pipe':
      return objectsAt(d['in'], path);
    case 'lazy':
      return objectsAt((d['getter'] as () => unknown)(), path);
    case 'union':
      return (d['options'] as unknown[]).flatMap((o) => objectsAt(o, path));
    case 'object': {
      const shape = d['shape'] as Record<string, unknown>;
      if (path.length === 0) return [shape];
      const next = shape[String(path[0])];
      return next === undefined ? [] : objectsAt(next, path.slice(1));
    }
    case 'array':
      return path.length === 0 ? [] : objectsAt(d['element'], path.slice(1));
    case 'record':
      return path.length === 0 ? [] : objectsAt(d['valueType'], path.slice(1));
    default:
      return [];
  }
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}
