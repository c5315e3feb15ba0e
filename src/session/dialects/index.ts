import { CommandError, parseFrame } from '../../protocol/index.js';
import { DialectError, type Decoded, type Dialect, type DialectContext, type FrameDecoder } from './dialect.js';
import { NativeDialect } from './native.js';
import { Seed000Dialect } from './seed000.js';
import { Seed002Dialect } from './seed002.js';

export type { Decoded, Dialect, DialectContext, DialectJoin, FrameDecoder, FrameInfo, FrameKind, Step, Translation } from './dialect.js';
export { DialectError } from './dialect.js';
export { isSeed000Chat, publicationJsonIn, seed000ChatJson } from '../../protocol/seed000.js';
export { publicationShape } from './seed000.js';

/**
 * The vocabularies of the native WebSocket endpoint, for one connection: a frame is parsed once and translated by
 * the first adapter that recognizes it — `method` native, else `type` seed 002, else `action` seed 000, else native
 * (which refuses it for want of a `method`). One connection may mix them.
 */
export class Dialects implements FrameDecoder {
  readonly native: NativeDialect;
  private readonly adapters: readonly Dialect[];

  constructor(c: DialectContext) {
    this.native = new NativeDialect(c.limits);
    this.adapters = [this.native, new Seed002Dialect(c), new Seed000Dialect(c)];
  }

  /** Decodes one text frame. Throws DialectError for every malformed input, never anything else (untrusted input). */
  decode(text: string): Decoded {
    let dialect: Dialect = this.native;
    try {
      const frame = parseFrame(text);
      for (const a of this.adapters) {
        if (a.recognizes(frame)) {
          dialect = a;
          break;
        }
      }
      const t = dialect.translate(frame);
      return { dialect, steps: t.steps, ...(t.frame === undefined ? {} : { frame: t.frame }), ...(t.reply === undefined ? {} : { reply: t.reply }) };
    } catch (err) {
      if (err instanceof CommandError) throw new DialectError(err.code, err.message, err.id, dialect);
      throw err; // a bug: the session answers it as an undecodable frame
    }
  }
}
