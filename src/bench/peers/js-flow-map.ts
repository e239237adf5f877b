import { FC_KEY_BYTES } from '../../generated/flow.js';

/**
 * Peer for the flow cache: a JS Map keyed by the 48-byte flow key as a string (24 UTF-16 code
 * units), which is how plain JS keeps binary keys in a hash map.
 */
export class JsFlowMap {
  private readonly map = new Map<string, number>();

  private static keyOf(keys: Uint16Array, i: number): string {
    const units = FC_KEY_BYTES / 2;
    return String.fromCharCode.apply(null, keys.subarray(i * units, i * units + units) as unknown as number[]);
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
