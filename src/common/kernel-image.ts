import { createHash } from 'node:crypto';
import { ErrorCode, QingtianError } from './errors.js';
import { readWasmSections } from './wasm-sections.js';

/**
 * The kernel ABI this runtime speaks. Deliberately not generated from assembly/common/abi.ts: it
 * states what this TypeScript implements, so a kernel built for another ABI is refused until the
 * runtime is changed to match.
 */
export const KERNEL_ABI = 1;
/** Upper bound on a module's table region. */
export const MAX_TABLES_BYTES = 256 << 20;

/** What a kernel module declares about itself, read from its exports. */
export interface KernelImageInfo {
  /** `QT_NAME`: the module's family name, `[a-z][a-z0-9-]*`, at most 8 ASCII bytes (e.g. `'virtio'`). */
  name: string;
  /** `QT_VERSION` as text, `'major.minor.patch'`. */
  version: string;
  /** `QT_VERSION` as the module declares it: major << 16 | minor << 8 | patch. */
  versionCode: number;
  /** `QT_ABI`: the kernel ABI the module speaks (`KERNEL_ABI`, 1). */
  abi: number;
  /** `QT_STATE_LAYOUT`: the layout of the job states it reads (a hot swap across layouts needs a transform). */
  stateLayout: number;
  /** `QT_TABLES_BYTES`: the table region its `qt_init` builds, at most 256 MiB (0: none). */
  tablesBytes: number;
  /** SHA-256 of the module's bytes, hex. */
  sha256: string;
  /** Export names in binary order; a job entry is named by its index in this list. */
  exports: readonly string[];
  /** Exported functions other than qt_init: the candidates for job entries and calls. */
  functions: readonly string[];
}

const REQUIRED_GLOBALS = ['QT_ABI', 'QT_NAME', 'QT_VERSION', 'QT_STATE_LAYOUT', 'QT_TABLES_BYTES'] as const;
const NAME_RE = /^[a-z][a-z0-9-]{0,7}$/;

function reject(label: string, why: string, details: Record<string, unknown> = {}): never {
  throw new QingtianError(ErrorCode.KernelRejected, `kernel ${label}: ${why}`, details);
}

/**
 * Checks a kernel module against the kernel rules and reads its declaration. Refuses:
 *  - anything that is not valid Wasm;
 *  - a module that does not import exactly one memory, `env.memory`, shared (host memory), or
 *    that defines or imports anything else (kernels are self-contained: no host calls);
 *  - a start function (instantiation must have no side effects);
 *  - any non-empty data segment: instantiating it would write static data at a fixed absolute
 *    address of host memory, over whatever another module version keeps there (docs/design.md,
 *    "Kernel rules", rule 2; decision 1);
 *  - missing declaration exports, an unsupported ABI, a malformed name or an oversized table.
 * The host memory's page count is checked against the import's limits.
 */
export function inspectKernel(
  input: Uint8Array,
  hostPages: number,
  label = '(unnamed)',
): { info: KernelImageInfo; module: WebAssembly.Module } {
  // One private copy: the bytes checked are the bytes compiled and hashed (the caller's buffer
  // may be shared and change underneath), and the engine takes only unshared buffers.
  const bytes = new Uint8Array(input);
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(bytes);
  } catch (e) {
    reject(label, `not a valid WebAssembly module: ${(e as Error).message}`);
  }
  const sections = readWasmSections(bytes);
  const memImports = sections.imports.filter((i) => i.kind === 'memory');
  const others = sections.imports.filter((i) => i.kind !== 'memory');
  if (sections.definedMemories > 0)
    reject(label, 'defines its own memory; a kernel must import host memory as env.memory');
  if (memImports.length !== 1)
    reject(label, `must import exactly one memory (env.memory), imports ${memImports.length}`);
  const mem = memImports[0]!;
  if (mem.module !== 'env' || mem.name !== 'memory')
    reject(label, `imports memory as ${mem.module}.${mem.name}, expected env.memory`);
  if (!mem.memory?.shared)
    reject(label, 'imports a non-shared memory; host memory is shared (build with --sharedMemory)');
  if (mem.memory.memory64) reject(label, 'imports a 64-bit memory; host memory is wasm32');
  if (mem.memory.min > hostPages || (mem.memory.max !== null && mem.memory.max < hostPages)) {
    reject(
      label,
      `memory import limits [${mem.memory.min}, ${mem.memory.max ?? 'none'}] pages do not admit host memory of ${hostPages} pages`,
    );
  }
  if (others.length > 0) {
    reject(
      label,
      `imports ${others.map((i) => `${i.module}.${i.name} (${i.kind})`).join(', ')}; a kernel may import only env.memory`,
    );
  }
  if (sections.hasStart) reject(label, 'has a start function; instantiation must have no side effects');
  const segs = sections.dataSegments.filter((s) => s.byteLength > 0);
  if (segs.length > 0) {
    const where = segs
      .map((s) =>
        s.offset === null ? `${s.mode} ${s.byteLength} B` : `${s.byteLength} B at 0x${s.offset.toString(16)}`,
      )
      .join(', ');
    reject(
      label,
      `has data segments (${where}); kernels build their tables at qt_init into the region the loader hands them`,
      { segments: segs },
    );
  }

  const exportList = WebAssembly.Module.exports(module);
  const kinds = new Map(exportList.map((e) => [e.name, e.kind]));
  const missing = [
    ...REQUIRED_GLOBALS.filter((g) => kinds.get(g) !== 'global'),
    ...(kinds.get('qt_init') === 'function' ? [] : ['qt_init']),
  ];
  if (missing.length > 0) reject(label, `missing exports: ${missing.join(', ')}`);

  // Safe to instantiate against a scratch memory: no start function and no data segments, so
  // instantiation runs no code and writes nothing. Only the exported constants are read.
  const scratch = new WebAssembly.Memory({
    initial: mem.memory.min,
    maximum: Math.max(mem.memory.min, 1),
    shared: true,
  });
  const probe = new WebAssembly.Instance(module, { env: { memory: scratch } });
  const g = (n: string): WebAssembly.Global => probe.exports[n] as WebAssembly.Global;
  const abi = Number(g('QT_ABI').value);
  const versionCode = Number(g('QT_VERSION').value);
  const stateLayout = Number(g('QT_STATE_LAYOUT').value);
  const tablesBytes = Number(g('QT_TABLES_BYTES').value);
  const name = decodeName(BigInt.asUintN(64, BigInt(g('QT_NAME').value as bigint | number)));
  if (!NAME_RE.test(name))
    reject(label, `QT_NAME decodes to ${JSON.stringify(name)}; expected 1-8 of [a-z0-9-], starting with a letter`);
  if (abi !== KERNEL_ABI) reject(label, `ABI version ${abi}; this runtime speaks ABI ${KERNEL_ABI}`, { abi });
  if (!Number.isInteger(tablesBytes) || tablesBytes < 0 || tablesBytes > MAX_TABLES_BYTES) {
    reject(label, `QT_TABLES_BYTES ${tablesBytes} outside [0, ${MAX_TABLES_BYTES}]`);
  }
  const info: KernelImageInfo = {
    name,
    version: `${(versionCode >>> 16) & 0xffff}.${(versionCode >>> 8) & 0xff}.${versionCode & 0xff}`,
    versionCode,
    abi,
    stateLayout,
    tablesBytes,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    exports: exportList.map((e) => e.name),
    functions: exportList.filter((e) => e.kind === 'function' && e.name !== 'qt_init').map((e) => e.name),
  };
  return { info, module };
}

/** QT_NAME packs up to 8 ASCII bytes little-endian; the first zero byte ends the name. */
export function decodeName(packed: bigint): string {
  let s = '';
  for (let i = 0n; i < 64n; i += 8n) {
    const c = Number((packed >> i) & 0xffn);
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

export function encodeName(name: string): bigint {
  let v = 0n;
  for (let i = 0; i < name.length && i < 8; i++) v |= BigInt(name.charCodeAt(i)) << BigInt(8 * i);
  return v;
}
