/**
 * Completion statuses of volume requests. The values are the errno numbers the NBD protocol
 * carries on the wire (so an NBD reply passes them through), and what a virtio-blk device maps
 * to VIRTIO_BLK_S_OK / S_IOERR / S_UNSUPP.
 */
export const VolumeStatus = {
  Ok: 0,
  /** A block could not be read back or written (more disks lost than parity covers). */
  IoError: 5,
  /** Out-of-range block, length not a whole number of blocks, bad buffer address. */
  Invalid: 22,
  /** The log is full of live data (thin capacity used up). */
  NoSpace: 28,
  /** An operation the volume does not know. */
  NotSupported: 95,
} as const;
export type VolumeStatus = (typeof VolumeStatus)[keyof typeof VolumeStatus];

/** Names of the status values, for messages (`EIO`, `EINVAL`, ...). */
export const VOLUME_STATUS_NAMES: Record<number, string> = {
  0: 'ok',
  5: 'EIO',
  22: 'EINVAL',
  28: 'ENOSPC',
  95: 'ENOTSUP',
};
