import { parentPort, workerData } from 'node:worker_threads';
import { BenchDriver, type DriverSetup } from './bench-driver.js';

/**
 * The bench guests' side, in a worker of its own (bench-driver.ts). The same code drives the
 * Wasm switch and its TS peer. Ops: 'stream' (keep both rings full for ms; frames delivered),
 * 'first' (new flows one at a time; the latency of each from publish to arrival, the receiver
 * asleep on its interrupt or polling its ring), 'flows' (new flows as fast as a window of
 * outstanding ones allows; frames delivered).
 */
type Req =
  | ({ op: 'setup' } & DriverSetup)
  | { op: 'reframe' }
  | { op: 'stream'; ms: number }
  | { op: 'first'; count: number; base: number; timeoutMs: number; poll: boolean }
  | { op: 'flows'; count: number; base: number; window: number; ms: number };

const { buffer } = workerData as { buffer: SharedArrayBuffer };
let d!: BenchDriver;
const now = (): bigint => process.hrtime.bigint();

/** Waits until every TX chain has completed and arrivals stopped (`quietMs` without one). */
function settle(quietMs: number): void {
  let last = now();
  const limit = last + 2_000_000_000n;
  while (now() < limit) {
    if (d.reapRx() > 0 || d.txRoom() < d.S.tx.tx.size) last = now();
    else if (now() - last > BigInt(quietMs * 1e6)) break;
  }
}

function handle(req: Req): unknown {
  switch (req.op) {
    case 'setup':
      d = new BenchDriver(buffer, req);
      return { ok: true };
    case 'reframe':
      settle(50);
      d.reframe();
      return { ok: true };
    case 'stream': {
      const t0 = now();
      const end = t0 + BigInt(Math.round(req.ms * 1e6));
      let delivered = 0;
      let t = t0;
      while (t < end) {
        if (d.fillTx(1 << 30)) d.kick();
        delivered += d.reapRx();
        t = now();
      }
      settle(20);
      return { delivered, elapsedNs: Number(t - t0) };
    }
    case 'first': {
      settle(50);
      const lat: number[] = [];
      const starts: number[] = [];
      for (let i = 0; i < req.count; i++) {
        const sport = req.base + i;
        d.nextFrame(sport, 9);
        const t0 = now();
        d.fillTx(1);
        d.kick();
        const deadline = t0 + BigInt(req.timeoutMs * 1e6);
        let t1 = t0;
        let found = false;
        // On interrupts the guest sleeps between checks (it does not steal the CPU the core and
        // the slow path run on); polling, it sees the frame as soon as the switch has put it in
        // the ring, without a thread wake-up.
        while (!found && t1 < deadline) {
          const seen = d.rxIrqCount();
          found = d.reapRxFor(sport);
          if (!found && !req.poll) d.waitRx(seen, 5);
          t1 = now();
        }
        lat.push(found ? Number(t1 - t0) / 1000 : NaN);
        starts.push(Number(t0));
        while (d.txRoom() < d.S.tx.tx.size) d.reapRx();
      }
      return { lat, starts };
    }
    case 'flows': {
      settle(50);
      const t0 = now();
      const end = t0 + BigInt(Math.round(req.ms * 1e6));
      let sent = 0;
      let delivered = 0;
      let t = t0;
      while (delivered < req.count && t < end) {
        let k = 0;
        while (sent < req.count && sent - delivered < req.window && d.txRoom() > 0) {
          // A new flow per frame: source and destination ports carry the flow number.
          const f = req.base + sent;
          d.nextFrame((f >>> 16) + 1, f & 0xffff);
          d.fillTx(1);
          sent++;
          k++;
        }
        if (k) d.kick();
        const seen = d.rxIrqCount();
        const got = d.reapRx();
        delivered += got;
        // Nothing came and the window is full: sleep on the receive interrupt as a guest on
        // interrupts does, leaving the CPU to the core and the slow path.
        if (got === 0 && k === 0) d.waitRx(seen, 1);
        t = now();
      }
      return { sent, delivered, elapsedNs: Number(t - t0) };
    }
  }
}

parentPort!.on('message', (req: Req) => {
  try {
    parentPort!.postMessage(handle(req));
  } catch (e) {
    parentPort!.postMessage({ error: e instanceof Error ? e.message : String(e) });
  }
});
