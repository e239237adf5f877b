/**
 * The few facts about a Wasm binary that WebAssembly.Module does not expose and the kernel
 * loader must know: whether an imported memory is shared, whether the module defines its own
 * memory, has a start function, or carries data segments. Reads the binary format directly
 * (WebAssembly core spec §5); everything else is left to the engine, which has already
 * validated the module by the time this runs.
 */

export interface MemoryLimits {
  min: number;
  max: number | null;
  shared: boolean;
  memory64: boolean;
}

export interface WasmImport {
  module: string;
  name: string;
  kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
  memory?: MemoryLimits;
}

export interface DataSegment {
  mode: 'active' | 'passive';
  byteLength: number;
  /** For active segments with a constant i32 offset: the absolute address it writes to. */
  offset: number | null;
}

export interface WasmSections {
  imports: WasmImport[];
  definedMemories: number;
  hasStart: boolean;
  dataSegments: DataSegment[];
  customSections: string[];
}

const SEC_CUSTOM = 0;
const SEC_IMPORT = 2;
const SEC_MEMORY = 5;
const SEC_START = 8;
const SEC_DATA = 11;

class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    pos = 0,
    readonly end = bytes.length,
  ) {
    this.pos = pos;
  }
  byte(): number {
    if (this.pos >= this.end) throw new Error('unexpected end of section');
    return this.bytes[this.pos++]!;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new Error('LEB128 too long');
    }
  }
  s64(): bigint {
    let result = 0n;
    let shift = 0n;
    let b: number;
    do {
      b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
    } while (b & 0x80);
    if (b & 0x40) result -= 1n << shift;
    return result;
  }
  name(): string {
    const len = this.u32();
    const s = new TextDecoder().decode(this.bytes.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }
  limits(): MemoryLimits {
    const flags = this.byte();
    const min = this.u32();
    const max = flags & 1 ? this.u32() : null;
    return { min, max, shared: (flags & 2) !== 0, memory64: (flags & 4) !== 0 };
  }
  /** A constant expression; returns its value when it is a lone i32.const. */
  constExpr(): number | null {
    let value: number | null = null;
    let ops = 0;
    for (;;) {
      const op = this.byte();
      if (op === 0x0b) return ops === 1 ? value : null;
      ops++;
      if (op === 0x41) value = Number(BigInt.asUintN(32, this.s64()));
      else if (op === 0x42) this.s64();
      else if (op === 0x23) this.u32();
      else if (op === 0x6a || op === 0x6b || op === 0x6c || op === 0x7c || op === 0x7d || op === 0x7e) value = null;
      else throw new Error(`unsupported opcode 0x${op.toString(16)} in a constant expression`);
    }
  }
}

export function readWasmSections(bytes: Uint8Array): WasmSections {
  const out: WasmSections = { imports: [], definedMemories: 0, hasStart: false, dataSegments: [], customSections: [] };
  const r = new Reader(bytes, 8);
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const body = new Reader(bytes, r.pos, r.pos + size);
    r.pos += size;
    switch (id) {
      case SEC_CUSTOM:
        out.customSections.push(body.name());
        break;
      case SEC_IMPORT:
        for (let n = body.u32(); n > 0; n--) out.imports.push(readImport(body));
        break;
      case SEC_MEMORY:
        out.definedMemories = body.u32();
        break;
      case SEC_START:
        out.hasStart = true;
        break;
      case SEC_DATA:
        for (let n = body.u32(); n > 0; n--) out.dataSegments.push(readSegment(body));
        break;
      default:
        break;
    }
  }
  return out;
}

function readImport(r: Reader): WasmImport {
  const module = r.name();
  const name = r.name();
  const kind = r.byte();
  switch (kind) {
    case 0x00:
      r.u32();
      return { module, name, kind: 'function' };
    case 0x01:
      r.byte();
      r.limits();
      return { module, name, kind: 'table' };
    case 0x02:
      return { module, name, kind: 'memory', memory: r.limits() };
    case 0x03:
      r.byte();
      r.byte();
      return { module, name, kind: 'global' };
    case 0x04:
      r.byte();
      r.u32();
      return { module, name, kind: 'tag' };
    default:
      throw new Error(`unknown import kind 0x${kind.toString(16)}`);
  }
}

function readSegment(r: Reader): DataSegment {
  const flags = r.u32();
  let offset: number | null = null;
  if (flags === 0) offset = r.constExpr();
  else if (flags === 2) {
    r.u32();
    offset = r.constExpr();
  } else if (flags !== 1) throw new Error(`unknown data segment flags ${flags}`);
  const byteLength = r.u32();
  r.pos += byteLength;
  return { mode: flags === 1 ? 'passive' : 'active', byteLength, offset };
}
