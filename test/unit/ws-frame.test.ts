/**
 * The server's hand-built WebSocket text frames (protocol/ws-frame.ts header, delivery/encoded.ts frame), read back by the `ws` package's own frame parser
 * (the one a Node client uses), at every payload-length boundary of RFC 6455 §5.2: 7-bit up to 125 bytes, 16-bit
 * from 126 to 65,535, 64-bit from 65,536.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRequire } from 'node:module';
import { wsTextFrameOf } from '../../src/delivery/encoded.js';
import { writeWsTextFrameHeader } from '../../src/protocol/ws-frame.js';

/** The `ws` package's frame parser: exported at run time, not declared by @types/ws. */
interface FrameReceiver {
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  write(chunk: Buffer, cb: (err?: Error | null) => void): boolean;
}
const { Receiver } = createRequire(import.meta.url)('ws') as { Receiver: new (options: { isServer: boolean }) => FrameReceiver };

/** Parses `frame` as a client would (unmasked server frames) and returns the text messages it holds. */
function parse(frame: Buffer): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const messages: string[] = [];
    const receiver = new Receiver({ isServer: false });
    receiver.on('message', (data: Buffer, isBinary: boolean) => {
      assert.equal(isBinary, false, 'a text frame');
      messages.push(data.toString('utf8'));
    });
    receiver.on('error', reject);
    receiver.write(frame, (err) => (err ? reject(err) : resolve(messages)));
  });
}

describe('WebSocket text frames', () => {
  for (const [len, header] of [
    [0, 2],
    [125, 2],
    [126, 4],
    [127, 4],
    [65_535, 4],
    [65_536, 10],
    [70_000, 10],
  ] as const) {
    it(`${len} bytes: ${header}-byte header, read back whole`, async () => {
      const text = 'é'.repeat(Math.floor(len / 2)) + 'x'.repeat(len % 2); // multi-byte UTF-8: the length is in bytes
      const frame = wsTextFrameOf(text);
      assert.equal(Buffer.byteLength(text), len);
      assert.equal(frame.length, header + len);
      assert.equal(frame[0], 0x81, 'FIN + text opcode');
      assert.deepEqual(await parse(frame), [text]);
    });
  }

  it('two frames in one buffer (a coalesced write) are two messages', async () => {
    const frames = Buffer.concat([wsTextFrameOf('{"a":1}'), wsTextFrameOf('x'.repeat(300))]);
    assert.deepEqual(await parse(frames), ['{"a":1}', 'x'.repeat(300)]);
  });

  it('a 64-bit length past 2^32 keeps its high half (header only: no 4 GiB buffer needed)', () => {
    const header = new Uint8Array(10);
    assert.equal(writeWsTextFrameHeader(header, 2 ** 32 * 3 + 0x01020304), 10);
    assert.deepEqual([...header], [0x81, 127, 0, 0, 0, 3, 1, 2, 3, 4]);
  });
});
