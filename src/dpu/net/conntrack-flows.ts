const KEY = 48;

/**
 * The flow keys installed for each connection (deleted with it): two 48-byte keys inline per
 * connection (one per direction is the usual count), more in a side map.
 */
export class CtFlowKeys {
  private keys = new Uint8Array(0);
  private used = new Uint8Array(0);
  private readonly more = new Map<number, Uint8Array[]>();

  add(e: number, key: Uint8Array): void {
    if (e >= this.used.length) this.grow(Math.max(1024, 2 * e));
    const u = this.used[e]!;
    for (let s = 0; s < 2; s++) if (u & (1 << s) && this.equal(e, s, key)) return;
    for (let s = 0; s < 2; s++) {
      if (u & (1 << s)) continue;
      this.keys.set(key.subarray(0, KEY), (2 * e + s) * KEY);
      this.used[e] = u | (1 << s);
      return;
    }
    const list = this.more.get(e) ?? [];
    if (list.some((k) => k.every((b, i) => b === key[i]))) return;
    list.push(key.slice(0, KEY));
    this.more.set(e, list);
  }

  list(e: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    const u = e < this.used.length ? this.used[e]! : 0;
    for (let s = 0; s < 2; s++) if (u & (1 << s)) out.push(this.keys.slice((2 * e + s) * KEY, (2 * e + s + 1) * KEY));
    const m = this.more.get(e);
    if (m) for (const k of m) out.push(k.slice());
    return out;
  }

  clear(e: number): void {
    if (e < this.used.length) this.used[e] = 0;
    if (this.more.size > 0) this.more.delete(e);
  }

  private equal(e: number, s: number, key: Uint8Array): boolean {
    const at = (2 * e + s) * KEY;
    for (let i = 0; i < KEY; i++) if (this.keys[at + i] !== key[i]) return false;
    return true;
  }

  private grow(n: number): void {
    const k = new Uint8Array(2 * n * KEY);
    k.set(this.keys);
    this.keys = k;
    const u = new Uint8Array(n);
    u.set(this.used);
    this.used = u;
  }
}
