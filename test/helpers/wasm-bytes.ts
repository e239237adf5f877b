/**
 * Hand-assembled Wasm binaries for loader refusals that the AssemblyScript build cannot produce
 * (a module with its own memory, a non-shared memory import, an extra import).
 */
const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

function section(id: number, body: number[]): number[] {
  return [id, body.length, ...body];
}
function str(s: string): number[] {
  return [s.length, ...[...s].map((c) => c.charCodeAt(0))];
}

/** Defines memory 0 instead of importing it. */
export function ownMemoryModule(): Uint8Array {
  return new Uint8Array([...HEADER, ...section(5, [1, 0x00, 1])]);
}

/** Imports env.memory without the shared flag. */
export function unsharedMemoryModule(): Uint8Array {
  return new Uint8Array([...HEADER, ...section(2, [1, ...str('env'), ...str('memory'), 0x02, 0x00, 1])]);
}

/** Imports shared env.memory plus a host function env.abort. */
export function extraImportModule(): Uint8Array {
  const typeSec = section(1, [1, 0x60, 0, 0]);
  // prettier-ignore
  const importSec = section(2, [
    2,
    ...str('env'), ...str('memory'), 0x02, 0x03, 1, 0x80, 0x80, 0x04,
    ...str('env'), ...str('abort'), 0x00, 0,
  ]);
  return new Uint8Array([...HEADER, ...typeSec, ...importSec]);
}
