// Interrupts to the guest: one i32 word per queue in host memory. The device adds 1 and wakes
// every waiter (the guest's vCPU threads wait on it with Atomics.wait / memory.atomic.wait32).

import { VQ_IRQ_ADDR, VQ_IRQ_SENT, VQ_IRQ_SUPPRESSED } from './queue-state';

@inline export function raiseIrq(vq: usize): void {
  const irq = load<u32>(vq, VQ_IRQ_ADDR);
  if (irq != 0) {
    atomic.add<i32>(irq, 1);
    atomic.notify(irq, -1);
  }
  store<u64>(vq, load<u64>(vq, VQ_IRQ_SENT) + 1, VQ_IRQ_SENT);
}

@inline export function suppressIrq(vq: usize): void {
  store<u64>(vq, load<u64>(vq, VQ_IRQ_SUPPRESSED) + 1, VQ_IRQ_SUPPRESSED);
}
