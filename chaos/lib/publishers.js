// Publishers: each loop publishes to a random channel at a steady rate, one publication at a time, and records the
// acknowledged ones (reply with a position) in the ledger. A publication without a reply in time, or refused, is not
// acknowledged: it may or may not have been stored ("outcome unknown"), so it is never counted as lost.
import { performance } from 'node:perf_hooks';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(p, ms) {
  let t;
  return Promise.race([p, new Promise((_, rej) => (t = setTimeout(() => rej(Object.assign(new Error('publish timed out'), { code: 'timeout' })), ms)))]).finally(() => clearTimeout(t));
}

/** `POST /api/publish` to a random node. */
export function httpPublisher({ name, ctx, timeoutMs }) {
  return {
    name,
    kind: 'http-publisher',
    async send(channel, data) {
      const res = await fetch(`http://127.0.0.1:${ctx.pickPort()}/api/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ channel, data }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = await res.json().catch(() => ({}));
      if (res.status !== 200) throw Object.assign(new Error(`HTTP ${res.status}`), { code: body.error?.code ?? `http_${res.status}` });
      return body;
    },
    drop() {},
    close() {},
  };
}

/**
 * Runs `pub.send` in a loop at `rate` publications per second, to `pickChannel()`. The payload is `{ id, t, pad }`: `id`
 * is unique per publication (`<publisher>.<seq>`), so the checker can tell which publication sits at a delivered
 * position; `t` is the publish time (ms, for delivery latency); `pad` is 0 to `payload` bytes of filler, so history holds publications of varied sizes.
 */
export function runPublisher(pub, { pickChannel, rate, payload, ctx, timeoutMs }) {
  let stopped = false;
  let seq = 0;
  const interval = 1000 / rate;
  const loop = async () => {
    let next = performance.now();
    while (!stopped) {
      const channel = pickChannel();
      const id = `${pub.name}.${++seq}`;
      const t = Date.now();
      const data = payload ? { id, t, pad: 'x'.repeat(ctx.rng.int(0, payload)) } : { id, t };
      try {
        const r = await withTimeout(pub.send(channel, data), timeoutMs);
        ctx.ack.record(Date.now() - t);
        ctx.ledger.ack(channel, r.epoch, r.offset, id);
      } catch (err) {
        ctx.ledger.failed++;
        const code = err?.name === 'TimeoutError' ? 'timeout' : err?.code ?? err?.cause?.code ?? err?.name ?? 'error';
        ctx.stats.publishErrors[code] = (ctx.stats.publishErrors[code] ?? 0) + 1;
        await sleep(100);
      }
      next += interval;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      else if (wait < -1000) next = performance.now(); // fell behind (a fault): do not burst to catch up
    }
  };
  const done = loop();
  return {
    stop() {
      stopped = true;
      return done;
    },
  };
}
