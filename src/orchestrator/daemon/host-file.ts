import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { intIn, multipleIn, oneOf } from '../../common/validate.js';
import { CORE_MODES } from '../../dpu/core/core-layout.js';
import { parseRequest } from './api.js';
import { PortPut, RoutePut, SecurityGroupPut, SubnetPut, VpcPut } from './resources/network.js';
import { VmPut } from './resources/vms.js';
import { VolumePut } from './resources/volumes.js';

const JOB_NAME = /^[a-z][a-z0-9-]{0,31}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$/;
const NAME_TEXT = 'a name of 1 to 48 letters, digits, _ . - (starting with a letter or digit)';

/** A map from resource name to its spec, as the daemon's PUT body takes it. */
function named<S extends z.ZodType>(spec: S, what: string) {
  return z
    .record(z.string().regex(NAME, { error: NAME_TEXT }), spec, { error: `a map from ${what} name to its spec` })
    .optional();
}

const HostFileSchema = z.strictObject(
  {
    /** Checked against the running daemon: these are fixed when it boots (`qingtian serve`). */
    host: z
      .strictObject({ cores: intIn(1, 64).optional(), memoryMib: intIn(1, 4095).optional() }, { error: 'a map' })
      .optional(),
    kernels: z.array(z.string().regex(/^[a-z][a-z0-9]{0,7}$/, { error: 'a kernel family name' })).optional(),
    cores: z
      .record(
        z.string().regex(/^(0|[1-9][0-9]{0,3})$/, { error: 'a core id' }),
        z.strictObject(
          {
            mode: oneOf(CORE_MODES).optional(),
            idleSpinPolls: intIn(1, 1e9).optional(),
            paused: z.boolean({ error: 'true or false' }).optional(),
          },
          { error: 'a map of mode, idleSpinPolls, paused' },
        ),
        { error: 'a map from core id to its settings' },
      )
      .optional(),
    jobs: z
      .record(
        z.string().regex(JOB_NAME, { error: 'a job name: 1-32 of [a-z0-9-], starting with a letter' }),
        z.strictObject(
          {
            core: intIn(0, 1023),
            kind: oneOf(['scrub']),
            scratchBytes: multipleIn(64, 64 << 10, 256 << 20),
            budget: intIn(1, 4096),
          },
          { error: 'a job spec: core, kind, scratchBytes, budget' },
        ),
        { error: 'a map from job name to its spec' },
      )
      .optional(),
    vpcs: named(VpcPut, 'VPC'),
    subnets: named(SubnetPut, 'subnet'),
    securityGroups: named(SecurityGroupPut, 'security group'),
    ports: named(PortPut, 'port'),
    routes: named(RoutePut, 'route'),
    volumes: named(VolumePut, 'volume'),
    vms: named(VmPut, 'VM'),
  },
  {
    error: 'a YAML map with host, kernels, cores, jobs, vpcs, subnets, securityGroups, ports, routes, volumes, vms',
  },
);

/** A host file (`qingtian up host.yaml`): the state a running daemon is brought to. */
export type HostFile = z.output<typeof HostFileSchema>;

/** Reads and checks a host file; refusals name the file and the field (`host.yaml: jobs.a.budget: …`). */
export function readHostFile(path: string): HostFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new QingtianError(ErrorCode.NotFound, `host file ${path}: ${(e as Error).message}`, { path });
  }
  return parseHostFile(text, path);
}

/** Parses host-file text (YAML); `where` names it in errors. */
export function parseHostFile(text: string, where: string): HostFile {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new QingtianError(ErrorCode.BadFormat, `${where}: ${(e as Error).message}`, { path: where });
  }
  return parseRequest(HostFileSchema, doc ?? {}, where);
}
