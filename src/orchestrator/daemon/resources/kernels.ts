import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { kernelFile } from '../../../common/package-paths.js';
import { oneOf } from '../../../common/validate.js';
import type { LoadedKernel } from '../../../dpu/kernels/kernel-loader.js';
import type { DaemonContext, DaemonResource } from '../resource.js';

export const KernelSchema = z
  .object({
    key: z.number().int().meta({ description: "the loader's key of this version" }),
    name: z.string().meta({ description: 'QT_NAME, the family' }),
    version: z.string(),
    sha256: z.string(),
    abi: z.number().int(),
    stateLayout: z.number().int(),
    imageBase: z.number().int().meta({ description: 'its image slot in host memory' }),
    imageBytes: z.number().int(),
    tablesBytes: z.number().int(),
    functions: z.array(z.string()).meta({ description: 'exported functions: job entries and calls' }),
  })
  .meta({ id: 'Kernel' });

/** The kernel families built into this package (build/kernels/<family>.wasm), by name. */
export function builtFamilies(): [string, ...string[]] {
  const names = readdirSync(dirname(kernelFile('core')))
    .map((f) => /^([a-z][a-z0-9]{0,7})\.wasm$/.exec(f)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort();
  return names.length ? (names as [string, ...string[]]) : ['core'];
}

/** `/kernels`: the kernel versions loaded on every core; load a built family by name. */
export class KernelsResource implements DaemonResource {
  readonly name = 'kernels';

  register({ host, api }: DaemonContext): void {
    const families = builtFamilies();
    const FamilyParam = z.strictObject({ family: oneOf(families) });
    api.route({
      method: 'get',
      path: '/kernels',
      tag: this.name,
      summary: 'Every kernel version loaded on the cores',
      response: z.array(KernelSchema),
      handler: () => host.dpu.loadedKernels().map(kernelView),
    });
    api.route({
      method: 'put',
      path: '/kernels/{family}',
      tag: this.name,
      summary:
        'Load a built kernel family on every core (checked against the kernel rules); loading it again changes nothing',
      params: FamilyParam,
      response: KernelSchema,
      mutates: true,
      handler: async ({ params }) => kernelView(await host.loadKernel(params.family)),
    });
  }
}

function kernelView(k: LoadedKernel): z.input<typeof KernelSchema> {
  return {
    key: k.key,
    name: k.info.name,
    version: k.info.version,
    sha256: k.info.sha256,
    abi: k.info.abi,
    stateLayout: k.info.stateLayout,
    imageBase: k.image.base,
    imageBytes: k.imageBytes,
    tablesBytes: k.info.tablesBytes,
    functions: [...k.info.functions],
  };
}
