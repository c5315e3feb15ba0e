/**
 * Stream positions. Every channel is a stream: `offset` grows by one per publication, `epoch` names one unbroken
 * life of the stream's history. A changed epoch means history was lost (restart, expiry), so a client holding a
 * position from the old epoch cannot be told "no gap".
 */
export interface StreamPosition {
  readonly epoch: string;
  readonly offset: number;
}

/** Epochs are short lowercase alphanumerics so they can sit inside SSE ids and URLs without escaping. */
export const EPOCH_PATTERN = /^[a-z0-9]{1,32}$/;

/**
 * The epoch a read answers for a channel that has no stream state (never published or subscribed, or idle past
 * `history.metaTtl`): reads create nothing, so there is no real epoch yet. Real epochs are 8 hex characters, so this
 * one never names a real stream. A subscriber resuming from `none:0` is `recovered` while the channel still has no
 * publication (there was nothing to miss), else told `recovered: false` (`epoch_changed`).
 */
export const NO_STREAM_EPOCH = 'none';

export function isStreamPosition(v: unknown): v is StreamPosition {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  return (
    typeof p.epoch === 'string' &&
    EPOCH_PATTERN.test(p.epoch) &&
    typeof p.offset === 'number' &&
    Number.isSafeInteger(p.offset) &&
    p.offset >= 0
  );
}

/** `epoch:offset`, the position token of one channel (used in SSE ids). */
export function formatPosition(p: StreamPosition): string {
  return `${p.epoch}:${p.offset}`;
}

export function parsePosition(token: string): StreamPosition | undefined {
  const i = token.indexOf(':');
  if (i <= 0) return undefined;
  const epoch = token.slice(0, i);
  const digits = token.slice(i + 1);
  if (!EPOCH_PATTERN.test(epoch) || !/^\d{1,15}$/.test(digits)) return undefined;
  return { epoch, offset: Number(digits) };
}

/**
 * An SSE event id resumes every channel of a stream: the positions of the stream's channels, in the order the
 * channels were given in the URL, joined by `,`. EventSource reconnects to the same URL, so the order is stable.
 */
export function formatStreamToken(positions: readonly StreamPosition[]): string {
  let s = '';
  for (let i = 0; i < positions.length; i++) {
    if (i > 0) s += ',';
    s += formatPosition(positions[i]!);
  }
  return s;
}

/** Parses a stream token for `channelCount` channels; undefined when it is malformed or made for another stream. */
export function parseStreamToken(token: string, channelCount: number): StreamPosition[] | undefined {
  if (token.length === 0 || token.length > 64 * channelCount) return undefined;
  const parts = token.split(',');
  if (parts.length !== channelCount) return undefined;
  const out: StreamPosition[] = [];
  for (const part of parts) {
    const p = parsePosition(part);
    if (!p) return undefined;
    out.push(p);
  }
  return out;
}
