import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { parseArgs } from '../../common/validate.js';
import { toApiError } from './api-error.js';

/** An HTTP method the API uses. */
export type ApiMethod = 'get' | 'put' | 'patch' | 'post' | 'delete';

/** One JSON route: its schemas are both the boundary check and its OpenAPI description. */
export interface JsonRoute<P extends z.ZodType, B extends z.ZodType, R extends z.ZodType> {
  method: ApiMethod;
  /** OpenAPI form, e.g. `/cores/{id}`. */
  path: string;
  /** The OpenAPI tag: the resource it belongs to. */
  tag: string;
  summary: string;
  /** Path parameters (strings on the wire; coerce them). */
  params?: P;
  /** The request body: a strict object (unknown keys refused). */
  body?: B;
  /** What a success answers with. */
  response: R;
  /** The status of a success (default 200). */
  status?: number;
  /** Changes the host: runs alone, after every change before it (see {@link Api.serial}). */
  mutates?: boolean;
  handler: (input: { params: z.output<P>; body: z.output<B> }) => Promise<z.input<R>> | z.input<R>;
}

/** A route that answers something other than JSON (metrics text, an event stream, a page). */
export interface RawRoute {
  path: string;
  tag: string;
  summary: string;
  /** Media type of the answer, for the OpenAPI document. */
  contentType: string;
  handler: (request: FastifyRequest, reply: FastifyReply) => unknown;
}

/** The refusal every route may answer: the OpenAPI component `Error`. */
export const ErrorSchema = z
  .object({
    code: z.string().meta({ description: 'stable error code, e.g. QT_INVALID_ARGUMENT' }),
    message: z.string().meta({ description: 'names the field, the accepted range and what was received' }),
    field: z.string().optional().meta({ description: 'the field at fault, e.g. body.mode' }),
  })
  .meta({ id: 'Error' });

/**
 * The daemon's routes, registered on one Fastify instance and in one OpenAPI registry at the
 * same time, so that the document the daemon serves cannot drift from the checks it runs.
 * Resources (host, cores, kernels, jobs, swaps; later VMs, ports, volumes) each add theirs.
 */
export class Api {
  private readonly registry = new OpenAPIRegistry();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly app: FastifyInstance) {}

  /** Adds a JSON route. Params and body are parsed before the handler runs; a refusal changes nothing. */
  route<P extends z.ZodType = z.ZodObject, B extends z.ZodType = z.ZodUndefined, R extends z.ZodType = z.ZodType>(
    r: JsonRoute<P, B, R>,
  ): void {
    const ok = r.status ?? 200;
    this.registry.registerPath({
      method: r.method,
      path: r.path,
      tags: [r.tag],
      summary: r.summary,
      request: {
        ...(r.params ? { params: r.params as unknown as z.ZodObject } : {}),
        ...(r.body ? { body: { content: { 'application/json': { schema: r.body } }, required: true } } : {}),
      },
      responses: {
        [ok]: { description: 'success', content: { 'application/json': { schema: r.response } } },
        '4XX': { description: 'refused; nothing changed', content: { 'application/json': { schema: ErrorSchema } } },
        '5XX': { description: 'the host could not do it', content: { 'application/json': { schema: ErrorSchema } } },
      },
    });
    this.app.route({
      method: r.method.toUpperCase(),
      url: fastifyPath(r.path),
      handler: async (request, reply) => {
        const run = async (): Promise<unknown> => {
          const params = r.params ? parseRequest(r.params, request.params, 'params') : undefined;
          const body = r.body ? parseRequest(r.body, request.body ?? undefined, 'body') : undefined;
          return r.handler({ params: params as z.output<P>, body: body as z.output<B> });
        };
        const result = r.mutates ? await this.serial(run) : await run();
        void reply.code(ok).type('application/json');
        return JSON.stringify(result ?? null);
      },
    });
  }

  /** Adds a route that answers with its own media type. */
  raw(r: RawRoute): void {
    this.registry.registerPath({
      method: 'get',
      path: r.path,
      tags: [r.tag],
      summary: r.summary,
      responses: { 200: { description: 'success', content: { [r.contentType]: { schema: z.string() } } } },
    });
    this.app.get(fastifyPath(r.path), r.handler);
  }

  /**
   * Runs changes one at a time, in arrival order: a change sees every change before it complete,
   * and concurrent clients never interleave inside one. Reads do not wait.
   */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Waits for every change accepted so far. */
  async drain(): Promise<void> {
    await this.queue;
  }

  /** The OpenAPI 3.1 document of every route added so far. */
  document(info: { title: string; version: string; description: string }): unknown {
    return new OpenApiGeneratorV31(this.registry.definitions).generateDocument({ openapi: '3.1.0', info });
  }
}

/** Installs the JSON error answer and the 404 of an unknown route. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, _request, reply) => {
    const { status, body } = toApiError(error);
    void reply.code(status).type('application/json').send(JSON.stringify(body));
  });
  app.setNotFoundHandler((request, reply) => {
    const body = { code: ErrorCode.NotFound, message: `no route ${request.method} ${request.url.split('?')[0]}` };
    void reply.code(404).type('application/json').send(JSON.stringify(body));
  });
}

/**
 * parseArgs, plus a message for keys the schema does not know: strict objects refuse them, and
 * the refusal names the key and the keys accepted.
 */
export function parseRequest<S extends z.ZodType>(schema: S, input: unknown, where: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const field = [where, ...issue.path.map(String), issue.keys[0] ?? ''].join('.');
    const known = knownKeys(schema, issue.path);
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${field}: unknown field${known.length ? `; accepted: ${known.join(', ')}` : ''}`,
      { field },
    );
  }
  return parseArgs(schema, input, where);
}

function knownKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let s: unknown = schema;
  for (const key of path) {
    const shape = (s as { shape?: Record<string, unknown> }).shape;
    s = shape?.[String(key)];
    // Optional and nullable wrappers: look through to the object inside.
    while (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = (s as z.ZodOptional).unwrap();
  }
  const shape = (s as { shape?: Record<string, unknown> } | undefined)?.shape;
  return shape ? Object.keys(shape) : [];
}

function fastifyPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}
