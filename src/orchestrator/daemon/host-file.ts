import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { intIn, multipleIn, oneOf } from '../../common/validate.js';
import { CORE_MODES } from '../../dpu/core/core-layout.js';
import { parseRequest } from './api.js';

const JOB_NAME = /^[a-z][a-z0-9-]{0,31}$/;

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
  },
  { error: 'a YAML map with host, kernels, cores, jobs' },
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
