// Frames of the agent protocols that run over vsock streams: the host agent's (control plane
// to the host agent) and the guest agent's (control plane to an agent inside a guest). A
// stream carries frames back to back; each is a fixed header and a body of `length` bytes.
// Little-endian, like everything else on these wires.
//
//   +0  u32 magic    'QTAP'
//   +4  u8  version  protocol version of this frame (AF_VERSION)
//   +5  u8  kind     AFK_REQUEST, AFK_RESPONSE, AFK_EVENT
//   +6  u16 type     message type (per protocol)
//   +8  u32 id       request id; a response carries its request's; events carry 0
//   +12 u16 status   responses: AFS_* (0 = ok); 0 otherwise
//   +14 u16 flags    0 (reserved)
//   +16 u32 length   body bytes that follow
//
// The TypeScript codec (src/hypervisor/agent/protocol/frame.ts) takes these from the module.

export const AF_MAGIC: u32 = 0x50415451; // 'QTAP'
export const AF_VERSION: u8 = 1;
export const AF_OFF_MAGIC: u32 = 0;
export const AF_OFF_VERSION: u32 = 4;
export const AF_OFF_KIND: u32 = 5;
export const AF_OFF_TYPE: u32 = 6;
export const AF_OFF_ID: u32 = 8;
export const AF_OFF_STATUS: u32 = 12;
export const AF_OFF_FLAGS: u32 = 14;
export const AF_OFF_LENGTH: u32 = 16;
export const AF_HEADER_BYTES: u32 = 20;

export const AFK_REQUEST: u8 = 1;
export const AFK_RESPONSE: u8 = 2;
export const AFK_EVENT: u8 = 3;

// Response statuses. Numbers are stable: both ends and the docs name them.
export const AFS_OK: u16 = 0;
/** Bad magic, or a length over the receiver's limit: the stream cannot be trusted, it is closed. */
export const AFS_BAD_FRAME: u16 = 1;
export const AFS_UNSUPPORTED_VERSION: u16 = 2;
export const AFS_UNKNOWN_TYPE: u16 = 3;
/** The body does not parse, or fails the message's schema (the error names the field). */
export const AFS_BAD_REQUEST: u16 = 4;
export const AFS_NOT_FOUND: u16 = 5;
/** The object is not in a state that allows the operation (an illegal transition). */
export const AFS_BAD_STATE: u16 = 6;
export const AFS_EXISTS: u16 = 7;
export const AFS_NO_RESOURCES: u16 = 8;
export const AFS_TIMEOUT: u16 = 9;
export const AFS_INTERNAL: u16 = 10;

/** Writes a frame header at `h`. */
export function writeFrameHeader(h: usize, kind: u8, type: u16, id: u32, status: u16, length: u32): void {
  store<u32>(h, AF_MAGIC, AF_OFF_MAGIC);
  store<u8>(h, AF_VERSION, AF_OFF_VERSION);
  store<u8>(h, kind, AF_OFF_KIND);
  store<u16>(h, type, AF_OFF_TYPE);
  store<u32>(h, id, AF_OFF_ID);
  store<u16>(h, status, AF_OFF_STATUS);
  store<u16>(h, 0, AF_OFF_FLAGS);
  store<u32>(h, length, AF_OFF_LENGTH);
}
