/**
 * Peer: Reed-Solomon in plain JavaScript, the classic table implementation (Backblaze
 * JavaReedSolomon's "byte table" coding loop): a 256-byte multiplication row per coefficient,
 * one table load per byte per coefficient. Same field (0x11D) and the klauspost/Backblaze
 * matrix, so its parity equals ours for matrix 'klauspost' (the bench checks that).
 */
const EXP = new Uint8Array(510);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = EXP[i + 255] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
}
const mul = (a: number, b: number): number => (a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!);
/** MUL[a] is the row b -> a * b. */
const MUL: Uint8Array[] = Array.from({ length: 256 }, (_, a) => Uint8Array.from({ length: 256 }, (_, b) => mul(a, b)));

function invert(m: number[][]): number[][] {
  const n = m.length;
  const a = m.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    const p = a.findIndex((row, r) => r >= c && row[c] !== 0);
    if (p < 0) throw new Error('singular');
    [a[c], a[p]] = [a[p]!, a[c]!];
    const inv = EXP[255 - LOG[a[c]![c]!]!]!;
    a[c] = a[c]!.map((v) => mul(v, inv));
    for (let r = 0; r < n; r++) {
      const f = a[r]![c]!;
      if (r !== c && f !== 0) a[r] = a[r]!.map((v, i) => v ^ mul(f, a[c]![i]!));
    }
  }
  return a.map((row) => row.slice(n));
}

export class JsReedSolomon {
  private readonly matrix: number[][];

  constructor(
    readonly k: number,
    readonly m: number,
  ) {
    const n = k + m;
    const pow = (a: number, e: number): number => (e === 0 ? 1 : a === 0 ? 0 : EXP[(LOG[a]! * e) % 255]!);
    const v = Array.from({ length: n }, (_, r) => Array.from({ length: k }, (_, c) => pow(r, c)));
    const top = invert(v.slice(0, k));
    this.matrix = v.map((row) => top[0]!.map((_, c) => row.reduce((acc, x, i) => acc ^ mul(x, top[i]![c]!), 0)));
  }

  /** outputs[r] = sum_j coeffs[r][j] * inputs[j] */
  private static code(coeffs: number[][], inputs: Uint8Array[], outputs: Uint8Array[]): void {
    const len = inputs[0]!.length;
    coeffs.forEach((row, r) => {
      const out = outputs[r]!;
      out.fill(0);
      row.forEach((c, j) => {
        const t = MUL[c]!;
        const inp = inputs[j]!;
        for (let i = 0; i < len; i++) out[i]! ^= t[inp[i]!]!;
      });
    });
  }

  encode(data: Uint8Array[], parity: Uint8Array[]): void {
    JsReedSolomon.code(this.matrix.slice(this.k), data, parity);
  }

  /** Fills the null entries of `shards` (given `out` arrays to fill). */
  reconstruct(shards: (Uint8Array | null)[], out: Uint8Array[]): void {
    const present = shards
      .map((s, i) => (s ? i : -1))
      .filter((i) => i >= 0)
      .slice(0, this.k);
    const missing = shards.map((s, i) => (s ? -1 : i)).filter((i) => i >= 0);
    const d = invert(present.map((i) => this.matrix[i]!));
    const rows = missing.map((t) =>
      t < this.k ? d[t]! : d[0]!.map((_, c) => this.matrix[t]!.reduce((acc, x, i) => acc ^ mul(x, d[i]![c]!), 0)),
    );
    JsReedSolomon.code(
      rows,
      present.map((i) => shards[i]!),
      out,
    );
  }
}
