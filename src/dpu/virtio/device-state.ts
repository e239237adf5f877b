/**
 * The common prefix of every virtio device's state region: TS mirror of
 * assembly/virtio/device-state.ts (diagram there), checked against the Wasm exports by
 * test/dpu/virtio/layout.test.ts. These move to src/generated/virtio.ts with the other virtio
 * layouts once the generated constants are on main.
 */
export const DEV_STATUS = 64;
export const DEV_CONFIG_IRQ = 68;
export const DEV_QUEUE_COUNT = 72;
export const DEV_CONFIG_OFFSET = 76;
export const DEV_CONFIG_BYTES = 80;
export const DEV_CONFIG_GEN = 84;
export const DEV_WEIGHT = 88;
export const DEV_RESETS = 96;
export const DEV_QUEUES = 128;
export const DEV_MAX_QUEUES = 32;
export const DEV_PAYLOAD = 256;

/** Device status bits (virtio 1.2 §2.1). */
export const DeviceStatus = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 64,
  FAILED: 128,
} as const;
