import type { Command, DecodeLimits } from '../../src/protocol/index.js';
import { Dialects, type Decoded } from '../../src/session/dialects/index.js';

/** The user a test connection's seed frames are translated for (seed 002 sets it as `user_id`). */
export const FRAME_USER = 'me';
export const SEED000_CHANNEL = 'broadcast';
const LIMITS: DecodeLimits = { maxChannelLength: 255, maxHistoryLimit: 1000 };

/** A decoded frame in the shape tests compare: the dialect's name and the step the frame is about (the last). */
export interface DecodedFrame {
  readonly dialect: string;
  readonly command: Command;
  readonly decoded: Decoded;
}

/**
 * Decodes one text frame the way a fresh WebSocket connection does (src/session/dialects/): every vocabulary,
 * translated into native steps. Throws DialectError (a CommandError whose `dialect` answers it) when refused.
 */
export function decodeAny(text: string, limits: DecodeLimits = LIMITS): DecodedFrame {
  const decoded = new Dialects({ userId: FRAME_USER, seed000Channel: SEED000_CHANNEL, limits }).decode(text);
  return { dialect: decoded.dialect.name, command: decoded.steps[decoded.steps.length - 1]!.command, decoded };
}
