import { z } from 'zod';
import { intIn, nameString } from '../../../common/validate.js';

/**
 * Container messages of the host agent protocol: batches of containers inside a container host
 * (a VM created with `containers`). One request carries up to CT_BATCH_MAX items; each item
 * succeeds or fails on its own, with the wire status and a message naming the field.
 */
export const CT_BATCH_MAX = 4096;
export const CONTAINER_STATES = ['defined', 'running', 'paused', 'shutoff'] as const;
export type ContainerState = (typeof CONTAINER_STATES)[number];
export const CONTAINER_OPS = ['start', 'pause', 'resume', 'stop', 'destroy'] as const;
export type ContainerOp = (typeof CONTAINER_OPS)[number];

const vm = intIn(1, 0x7fffffff);
const id = intIn(1, 0x7fffffff);

const failed = z.strictObject({ ok: z.literal(false), status: nameString(32), message: z.string().max(512) });

/** One item's result: its new state (and, for a create, its id and memory), or why it failed. */
export const containerResult = z.discriminatedUnion('ok', [
  z.strictObject({
    ok: z.literal(true),
    id,
    state: z.enum([...CONTAINER_STATES, 'destroyed']),
    previous: z.enum(CONTAINER_STATES).optional(),
    /** Guest-physical range of the container's memory in its host (creates only). */
    memGpa: z.number().int().nonnegative().optional(),
    memBytes: z.number().int().positive().optional(),
  }),
  failed,
]);
export type ContainerResult = z.output<typeof containerResult>;

const results = z.strictObject({ results: z.array(containerResult).max(CT_BATCH_MAX) });

export const CONTAINER_MESSAGES = {
  'ct.create': {
    type: 30,
    request: z.strictObject({
      vm,
      items: z
        .array(
          z.strictObject({
            name: nameString(48),
            /** Work units per round of the host's vCPU (its CPU share), 1–1024. */
            share: intIn(1, 1024),
            memoryMiB: intIn(1, 4096),
            task: z.enum(['idle', 'busy']),
          }),
        )
        .min(1)
        .max(CT_BATCH_MAX),
    }),
    response: results,
  },
  'ct.op': {
    type: 31,
    request: z.strictObject({
      vm,
      op: z.enum(CONTAINER_OPS),
      ids: z.array(id).min(1).max(CT_BATCH_MAX),
    }),
    response: results,
  },
  'ct.stats': {
    type: 32,
    request: z.strictObject({ vm, ids: z.array(id).max(CT_BATCH_MAX).optional() }),
    response: z.strictObject({
      containers: z
        .array(
          z.strictObject({
            id,
            name: nameString(48),
            state: z.enum(CONTAINER_STATES),
            /** Work units its task ran, and rounds it ran in. */
            units: z.number().int().nonnegative(),
            rounds: z.number().int().nonnegative(),
          }),
        )
        .max(65535),
      /** Container memory in use in the host, bytes. */
      memoryBytes: z.number().int().nonnegative(),
    }),
  },
} as const;
