/**
 * Applying a fossil delta (the format of the Fossil SCM's delta encoding), written from the format's description:
 * the target's length in base 64 and a newline, then commands, each a base-64 integer N and a letter —
 * `N@O,` copies N bytes of the base from offset O, `N:` inserts the N bytes that follow, `N;` ends the delta with
 * N the checksum of the target. Base-64 digits are `0-9A-Z_a-z~`, most significant first.
 *
 * Delta compression (docs/protocol.md) sends a delta as a JSON string whose characters are its bytes (U+0000 to
 * U+00FF), so this reads a string. The server encodes with the `fossil-delta` package; the SDK only applies, and a
 * delta that does not fit the base it holds (wrong length, a copy past its end, a bad checksum) gives undefined
 * instead of wrong data.
 */
const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~';

/** The target of `delta` applied to `base`, or undefined when the delta is malformed or made against another base. */
export function applyFossilDelta(base: Uint8Array, delta: string): Uint8Array | undefined {
  let pos = 0;
  /** A base-64 integer at `pos` (-1: none). */
  const int = (): number => {
    const start = pos;
    let v = 0;
    for (let d; pos < delta.length && (d = DIGITS.indexOf(delta[pos]!)) >= 0; pos++) v = v * 64 + d;
    return pos === start ? -1 : v;
  };
  const size = int();
  // No command makes more bytes than the base's length (a copy) or its own length (an insert): a larger claimed size
  // is a broken delta, refused before anything is allocated.
  if (size < 0 || size > delta.length * Math.max(base.length, 1) || delta[pos++] !== '\n') return undefined;
  const out = new Uint8Array(size);
  let n = 0;
  while (pos < delta.length) {
    const count = int();
    const op = delta[pos++];
    if (count < 0 || (op !== ';' && n + count > size)) return undefined;
    if (op === '@') {
      const at = int();
      if (at < 0 || delta[pos++] !== ',' || at + count > base.length) return undefined;
      out.set(base.subarray(at, at + count), n);
      n += count;
    } else if (op === ':') {
      if (pos + count > delta.length) return undefined;
      for (const end = pos + count; pos < end; pos++) {
        const c = delta.charCodeAt(pos);
        if (c > 255) return undefined;
        out[n++] = c;
      }
    } else {
      return op === ';' && n === size && fossilChecksum(out) === count ? out : undefined;
    }
  }
  return undefined;
}

/**
 * The fossil checksum: the sum, modulo 2^32, of the bytes read as big-endian 32-bit words (the last one padded with
 * zero bytes).
 */
export function fossilChecksum(b: Uint8Array): number {
  let sum = 0;
  let i = 0;
  for (; i + 4 <= b.length; i += 4) sum = (sum + ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!)) | 0;
  for (let shift = 24; i < b.length; i++, shift -= 8) sum = (sum + (b[i]! << shift)) | 0;
  return sum >>> 0;
}
