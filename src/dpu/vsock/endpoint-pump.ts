/**
 * Wakes the host side of a vsock device whenever its engine signals: a loop parked in
 * Atomics.waitAsync on the device's app-wake word, so the main thread never blocks. Each
 * wake-up calls `onWake` (the endpoint's poll). The value is read before polling, so a signal
 * that lands while polling makes the next wait return at once instead of being lost.
 */
export class EndpointPump {
  private running = false;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly i32: Int32Array,
    private readonly wakeAddr: number,
    private readonly onWake: () => void,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    if (!this.running) return this.done;
    this.running = false;
    Atomics.notify(this.i32, this.wakeAddr >> 2);
    await this.done;
  }

  private async loop(): Promise<void> {
    const idx = this.wakeAddr >> 2;
    while (this.running) {
      const seen = Atomics.load(this.i32, idx);
      this.onWake();
      if (!this.running) break;
      const w = Atomics.waitAsync(this.i32, idx, seen);
      if (w.async) await w.value;
    }
  }
}
