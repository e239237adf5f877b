/**
 * What a guest's virtio-net driver needs of the device it probes (the hypervisor never sees the
 * DPU-side class): feature negotiation, queue setup by virtqueue index (§5.1.2: receiveq(k) = 2k,
 * transmitq(k) = 2k + 1, controlq after them), and the configuration space's MAC.
 */
export interface NetBackendApi {
  /** Feature bits the device offers. */
  features(): bigint;
  /** Accepts the driver's subset (throws on bits not offered, or without VERSION_1). */
  negotiate(driverFeatures: bigint): void;
  setQueue(index: number, config: { size: number; descGpa: bigint; driverGpa: bigint; deviceGpa: bigint }): void;
  readonly mac: string;
  /** Interrupt words of receive and transmit queue pair `k` (host addresses). */
  queueIrq(index: number): number;
}
