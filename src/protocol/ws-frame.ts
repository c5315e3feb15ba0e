/**
 * WebSocket framing (RFC 6455 §5.2) of a message the server sends: one final text frame, unmasked (a server never
 * masks), its payload length in the 7-, 16- or 64-bit form chosen by size. Pure: it writes into any Uint8Array (a Node
 * Buffer is one), so the caller decides how the frame is allocated and fills the payload in place after the header.
 */

/** Bytes of the header in front of a `payloadBytes`-byte payload: 2 up to 125 bytes, 4 up to 65,535, else 10. */
export function wsTextFrameHeaderLength(payloadBytes: number): 2 | 4 | 10 {
  return payloadBytes < 126 ? 2 : payloadBytes < 65_536 ? 4 : 10;
}

/** Writes the header of a text frame with a `payloadBytes`-byte payload at `target[0]`; returns the header's length. */
export function writeWsTextFrameHeader(target: Uint8Array, payloadBytes: number): 2 | 4 | 10 {
  target[0] = 0x81; // FIN + opcode 1 (text)
  if (payloadBytes < 126) {
    target[1] = payloadBytes;
    return 2;
  }
  if (payloadBytes < 65_536) {
    target[1] = 126;
    target[2] = payloadBytes >>> 8;
    target[3] = payloadBytes & 0xff;
    return 4;
  }
  // 64-bit big-endian length; lengths past 2^32 split in two 32-bit halves (bit operators are 32-bit in JS).
  target[1] = 127;
  const high = Math.floor(payloadBytes / 2 ** 32);
  const low = payloadBytes >>> 0;
  target[2] = high >>> 24;
  target[3] = (high >>> 16) & 0xff;
  target[4] = (high >>> 8) & 0xff;
  target[5] = high & 0xff;
  target[6] = low >>> 24;
  target[7] = (low >>> 16) & 0xff;
  target[8] = (low >>> 8) & 0xff;
  target[9] = low & 0xff;
  return 10;
}
