import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandQueue } from '../../src/session/command-queue.js';
import { CommandRate } from '../../src/session/command-rate.js';

/** A host that records what the queue does, with commands that settle when the test says so. */
function recorder() {
  const log: string[] = [];
  const waiting: (() => void)[] = [];
  const host = {
    closed: false,
    isClosed: () => host.closed,
    run: (c: string) => {
      log.push(`run:${c}`);
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
    badFrame: (e: string) => void log.push(`bad:${e}`),
    sendRaw: (frame: Buffer) => void log.push(`raw:${frame.toString()}`),
    pause: () => void log.push('pause'),
    resume: () => void log.push('resume'),
  };
  const settle = async () => {
    waiting.shift()!();
    await new Promise((r) => setImmediate(r));
  };
  return { host, log, settle };
}

test('commands run one at a time in order; bad frames and raw replies wait behind the commands before them', async () => {
  const { host, log, settle } = recorder();
  const q = new CommandQueue<string, string>(host, 1000);
  q.command('a', 10);
  q.bad('x');
  q.command('b', 10);
  q.raw(Buffer.from('r'));
  assert.deepEqual(log, ['run:a']);
  await settle();
  assert.deepEqual(log, ['run:a', 'bad:x', 'run:b']);
  await settle();
  assert.deepEqual(log, ['run:a', 'bad:x', 'run:b', 'raw:r']);
  assert.equal(q.idle, true);
  // Idle: answered at once.
  q.bad('y');
  assert.deepEqual(log.at(-1), 'bad:y');
});

test('reading pauses past the backlog bound and resumes once half of it ran', async () => {
  const { host, log, settle } = recorder();
  const q = new CommandQueue<string, string>(host, 100);
  const flow = () => log.filter((l) => l === 'pause' || l === 'resume');
  q.command('a', 60); // taken at once: not waiting
  q.command('b', 60);
  assert.deepEqual(flow(), [], '60 bytes waiting: still read');
  q.command('c', 60);
  assert.deepEqual(flow(), ['pause'], '120 bytes waiting: paused');
  await settle(); // a done, b taken: 60 waiting, more than half the bound
  assert.deepEqual(flow(), ['pause']);
  await settle(); // b done, c taken: nothing waiting
  assert.deepEqual(flow(), ['pause', 'resume']);
});

test('a closed connection runs nothing more', async () => {
  const { host, log, settle } = recorder();
  const q = new CommandQueue<string, string>(host, 1000);
  q.command('a', 1);
  q.command('b', 1);
  host.closed = true;
  await settle();
  assert.deepEqual(log, ['run:a']);
});

test('command rate: refusals up to the reject limit, then flooded', () => {
  const r = new CommandRate(1, 3);
  assert.equal(r.take(), true);
  assert.equal(r.take(), true); // burst of two
  assert.equal(r.take(), false);
  assert.equal(r.refuse(), false);
  assert.equal(r.refuse(), false);
  assert.equal(r.flooded, false);
  assert.equal(r.refuse(), true);
  assert.equal(r.flooded, true);
  assert.equal(new CommandRate(0, 3).take(), true, 'rate 0: no limit');
});
