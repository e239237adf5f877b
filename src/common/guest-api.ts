/**
 * What a device needs to know about a guest's memory (the dpu side never sees the Guest class).
 * Guest RAM is one host-memory region; guest-physical address 0 is its base.
 */
export interface GuestMemoryView {
  readonly name: string;
  /** Host address of guest-physical address 0. */
  readonly ramBase: number;
  readonly ramBytes: number;
  /** Host address of the guest memory map region (GMAP) every kernel translates through. */
  readonly gmapBase: number;
  /** A fresh interrupt word (host address) for a queue or a config-change vector. */
  allocIrq(): number;
  /** Gives back a word allocIrq() handed out (a device being freed), so it can be handed out again. */
  freeIrq(addr: number): void;
}
