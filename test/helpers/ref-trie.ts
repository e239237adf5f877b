/**
 * A plain binary trie over bit strings: the reference model for longest-prefix match. One node
 * per bit, no compression, no cleverness: obviously right, slow.
 */
export class RefTrie {
  private readonly root: Node = { kids: [null, null], value: undefined };

  constructor(private readonly bits: number) {}

  insert(addr: bigint, length: number, value: number): void {
    let n = this.root;
    for (let i = 0; i < length; i++) {
      const b = Number((addr >> BigInt(this.bits - 1 - i)) & 1n);
      n = n.kids[b] ??= { kids: [null, null], value: undefined };
    }
    n.value = value;
  }

  delete(addr: bigint, length: number): void {
    let n: Node | null = this.root;
    for (let i = 0; i < length && n; i++) n = n.kids[Number((addr >> BigInt(this.bits - 1 - i)) & 1n)]!;
    if (n) n.value = undefined;
  }

  lookup(addr: bigint): number {
    let n: Node | null = this.root;
    let best = -1;
    for (let i = 0; n; i++) {
      if (n.value !== undefined) best = n.value;
      if (i === this.bits) break;
      n = n.kids[Number((addr >> BigInt(this.bits - 1 - i)) & 1n)]!;
    }
    return best;
  }
}

interface Node {
  kids: [Node | null, Node | null];
  value: number | undefined;
}
