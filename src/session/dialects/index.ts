import { CommandError, parseFrame } from '../../protocol/index.js';
import { DialectError, type Decoded, type Dialect, type DialectContext, type FrameDecoder } from './dialect.js';
import { NativeDialect } from './native.js';
import { Seed000Dialect } from './seed000.js';
import { Seed002Dialect } from './seed002.js';

export { CentrifugeDialect } from './centrifuge.js';
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
  /** Who answers frames refused before decoding (binary, too large, rate): native, or the endpoint's own adapter. */
  readonly native: Dialect;
  /** The endpoint's one vocabulary (Centrifuge), when it has one. */
  private readonly only: Dialect | undefined;
  private readonly context: DialectContext | undefined;
  /**
   * The seed adapters in the order they are asked after native, made on the first frame native does not recognize:
   * a native client never needs them (~0.2 KiB of every connection's idle memory when made up front).
   */
  private seeds: readonly Dialect[] | undefined;

  /** `only`: an endpoint-owning adapter (Centrifuge) that is the connection's one vocabulary. */
  constructor(c: DialectContext, only?: Dialect) {
    this.native = only ?? new NativeDialect(c.limits);
    this.only = only;
    this.context = only ? undefined : c;
  }

  private seedAdapters(): readonly Dialect[] {
    return (this.seeds ??= [new Seed002Dialect(this.context!), new Seed000Dialect(this.context!)]);
  }

  /** Decodes one text frame. Throws DialectError for every malformed input, never anything else (untrusted input). */
  decode(text: string): Decoded {
    let dialect: Dialect = this.native;
    try {
      const frame = parseFrame(text);
      if (this.only) dialect = this.only;
      else if (!this.native.recognizes(frame)) {
        for (const a of this.seedAdapters()) {
          if (a.recognizes(frame)) {
            dialect = a;
            break;
          }
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
