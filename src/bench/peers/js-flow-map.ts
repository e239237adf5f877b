import { FC_KEY_BYTES } from '../../generated/flow.js';

/**
 * Peer for the flow cache: a JS Map keyed by the 48-byte flow key as a string (24 UTF-16 code
 * units), which is how plain JS keeps binary keys in a hash map.
 */
/** UTF-16 code units of a key; a module-local const, which V8 folds like a literal in the loop. */
const KEY_UNITS = FC_KEY_BYTES / 2;

export class JsFlowMap {
  private readonly map = new Map<string, number>();

  private static keyOf(keys: Uint16Array, i: number): string {
    return String.fromCharCode.apply(
      null,
      keys.subarray(i * KEY_UNITS, i * KEY_UNITS + KEY_UNITS) as unknown as number[],
    );
  }

  insert(keys: Uint16Array, i: number, value: number): void {
    this.map.set(JsFlowMap.keyOf(keys, i), value);
  }

  lookupBurst(keys: Uint16Array, first: number, n: number, out: Int32Array): void {
    for (let i = 0; i < n; i++) out[i] = this.map.get(JsFlowMap.keyOf(keys, first + i)) ?? -1;
  }

  get size(): number {
    return this.map.size;
  }
}
