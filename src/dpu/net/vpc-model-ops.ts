import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { Downcall } from './flow-actions.js';
import type { VpcModel } from './vpc-model.js';

/** The VpcModel methods that change it: what a replica of a model replays. */
export const MODEL_OPS = [
  'createVpc',
  'deleteVpc',
  'createSubnet',
  'deleteSubnet',
  'createPort',
  'createSubPort',
  'createRemotePort',
  'deletePort',
  'setPortGroups',
  'createSecurityGroup',
  'addRule',
  'removeRule',
  'deleteSecurityGroup',
  'createTunnel',
  'deleteTunnel',
  'createRemoteHost',
  'deleteRemoteHost',
  'addRoute',
  'removeRoute',
] as const;
export type ModelOpName = (typeof MODEL_OPS)[number];

/**
 * One change of a VPC model as plain data. A model is deterministic (ids in order, MACs from its
 * seeded generator), so replaying a model's accepted changes, in order, on a model made with the
 * same options gives the same model: same ids, same MACs.
 */
export type ModelOp = { [K in ModelOpName]: { op: K; args: Parameters<VpcModel[K]> } }[ModelOpName];

/** Applies one change; a replica refuses what the original accepted only if they diverged. */
export function applyModelOp(model: VpcModel, op: ModelOp): void {
  if (!(MODEL_OPS as readonly string[]).includes(op.op))
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `model op: expected one of ${MODEL_OPS.join(', ')}, got '${op.op}'`,
    );
  (model[op.op] as (...a: unknown[]) => unknown).apply(model, op.args);
}

/**
 * What the revalidator made while a slow path replayed a model's history, to send to a switch
 * that holds none of its flows yet: not the flushes, which have nothing to remove there, and a
 * flush takes away the flows installed while it runs.
 */
export function replayDowncalls(made: readonly Downcall[]): Downcall[] {
  return made.filter((d) => d.op !== 'flush-all' && d.op !== 'flush-cookie' && d.op !== 'delete');
}
