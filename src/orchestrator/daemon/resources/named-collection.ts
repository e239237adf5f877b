import { z } from 'zod';
import { ErrorCode, QingtianError, isQingtianError } from '../../../common/errors.js';
import { notFound } from '../api-error.js';
import type { Api } from '../api.js';

/** A name in a resource path: the network's names (1-48 of letters, digits, `_ . -`). */
export const ResourceName = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$/, {
    error: 'a name of 1 to 48 letters, digits, _ . - (starting with a letter or digit)',
  }),
});

/** How one kind of named thing is made, read and removed (see {@link namedCollection}). */
export interface Collection<B extends z.ZodType, V> {
  /** The path of the collection, e.g. `/vpcs`; one member is `/vpcs/{name}`. */
  path: string;
  /** The OpenAPI tag. */
  tag: string;
  /** One member in words, for summaries and errors ('VPC', 'port'). */
  noun: string;
  /** The PUT body: the member's spec, without its name. */
  body: B;
  /** What GET answers for one member. */
  view: z.ZodType<V>;
  /** Every member, by name. */
  list(): { name: string; view: V }[];
  /** Makes member `name` from `spec` (a refusal must leave nothing behind). */
  create(name: string, spec: z.output<B>): Promise<void> | void;
  /** Removes member `name`. */
  remove(name: string): Promise<void> | void;
}

/**
 * GET (all, one), PUT and DELETE of a named collection, Firecracker-style: PUT with the spec a
 * member already has changes nothing; another spec is refused with 409 (DELETE it first).
 * Refusals of the host API that name a field (`subnet.cidr`) are answered as `body.cidr`.
 * Returns the specs the daemon made each member with (the source of truth of `up`).
 */
export function namedCollection<B extends z.ZodType, V>(api: Api, c: Collection<B, V>): Map<string, unknown> {
  const specs = new Map<string, unknown>();
  const one = (name: string): V => {
    const m = c.list().find((x) => x.name === name);
    if (!m) throw notFound(c.noun, name);
    return m.view;
  };
  const Member = z.object({ name: z.string(), spec: z.unknown(), status: c.view });
  const member = (name: string): z.input<typeof Member> => ({ name, spec: specs.get(name) ?? null, status: one(name) });
  api.route({
    method: 'get',
    path: c.path,
    tag: c.tag,
    summary: `Every ${c.noun}`,
    response: z.array(Member),
    handler: () => c.list().map((m) => ({ name: m.name, spec: specs.get(m.name) ?? null, status: m.view })),
  });
  api.route({
    method: 'get',
    path: `${c.path}/{name}`,
    tag: c.tag,
    summary: `One ${c.noun}`,
    params: ResourceName,
    response: Member,
    handler: ({ params }) => member(params.name),
  });
  api.route({
    method: 'put',
    path: `${c.path}/{name}`,
    tag: c.tag,
    summary: `Create a ${c.noun}; the same spec again changes nothing`,
    params: ResourceName,
    body: c.body,
    response: Member,
    mutates: true,
    handler: async ({ params, body }) => {
      const exists = c.list().some((m) => m.name === params.name);
      if (exists) {
        if (canonical(specs.get(params.name)) === canonical(body)) return member(params.name);
        throw new QingtianError(
          ErrorCode.DeviceState,
          `params.name: ${c.noun} ${params.name} exists with another spec; DELETE it first`,
          { field: 'params.name' },
        );
      }
      try {
        await c.create(params.name, body);
      } catch (e) {
        throw asBodyError(e);
      }
      specs.set(params.name, body);
      return member(params.name);
    },
  });
  api.route({
    method: 'delete',
    path: `${c.path}/{name}`,
    tag: c.tag,
    summary: `Remove a ${c.noun}`,
    params: ResourceName,
    response: Member,
    mutates: true,
    handler: async ({ params }) => {
      const m = member(params.name);
      try {
        await c.remove(params.name);
      } catch (e) {
        throw inUse(e);
      }
      specs.delete(params.name);
      return m;
    },
  });
  return specs;
}

/**
 * A host API refusal as an API refusal of the body: `subnet.cidr` becomes `body.cidr`, and a
 * missing thing the spec refers to (its VPC, subnet, group) is a 400 on that field, not a 404.
 */
export function asBodyError(e: unknown): unknown {
  if (!isQingtianError(e)) return e;
  const f = e.details['field'];
  if (typeof f !== 'string') return e;
  const rest = f.includes('.') ? f.slice(f.indexOf('.') + 1) : f;
  const field = `body.${rest}`;
  const msg = e.message.startsWith(`${f}: `) ? e.message.slice(f.length + 2) : e.message;
  const code = e.code === ErrorCode.NotFound ? ErrorCode.InvalidArgument : e.code;
  return new QingtianError(code, `${field}: ${msg}`, { ...e.details, field });
}

/** Removing something another resource still uses is a conflict (409), not a bad argument. */
function inUse(e: unknown): unknown {
  if (isQingtianError(e) && e.code === ErrorCode.InvalidArgument && / in use /.test(e.message))
    return new QingtianError(ErrorCode.DeviceState, e.message, e.details);
  return e;
}

/** JSON with object keys sorted: two specs are the same when this is. */
export function canonical(v: unknown): string {
  return JSON.stringify(v ?? null, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([p], [q]) => p.localeCompare(q)))
      : x,
  );
}
