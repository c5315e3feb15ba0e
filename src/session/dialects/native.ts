import { decodeFrame, errorJson, type DecodeLimits } from '../../protocol/index.js';
import type { Dialect, Translation } from './dialect.js';

/** The native protocol (docs/protocol.md): one frame, one command, answered by id. */
export class NativeDialect implements Dialect {
  readonly name = 'native';
  readonly announcesCatchUp = true;
  readonly errorJson = errorJson;

  constructor(private readonly limits: DecodeLimits) {}

  recognizes(frame: Record<string, unknown>): boolean {
    return 'method' in frame;
  }

  translate(frame: Record<string, unknown>): Translation {
    return { steps: [{ command: decodeFrame(frame, this.limits) }] };
  }
}
