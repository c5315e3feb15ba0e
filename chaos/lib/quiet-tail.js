// The quiet tail, the last step before the final check (--tail N channels, 0 skips it). Every subscriber holds the
// tail channels from the start, and they get no publication until the end: then Redis is restarted empty once more
// and, as soon as it answers, each tail channel gets exactly one publication, their first attempts staggered by
// STAGGER_MS so that they land at different moments of the nodes' reconnection. During the run a publication that a
// node missed (its pub/sub connection was not subscribed again yet) is revealed by the channel's next one: the node
// sees the gap or the new epoch and its subscribers resume. Here nothing follows, so a subscriber is either told
// (4004, then recovered:false with epoch_changed) or left without the publication and without a word, which the
// checker counts as lost.
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const STAGGER_MS = 15;
const RETRY_MS = 10;

export async function quietTail({ cluster, channels, ctx, log }) {
  log(`quiet tail: kill -9 Redis, restart it empty, then one publication on each of ${channels.length} tail channels`);
  await cluster.redis.kill();
  await sleep(300);
  await cluster.startRedis();
  const results = await Promise.all(
    channels.map(async (channel, i) => {
      await sleep(i * STAGGER_MS);
      const port = cluster.ports[i % cluster.ports.length];
      const deadline = Date.now() + 10_000;
      for (let attempt = 1; ; attempt++) {
        const id = `tail.${i}.${attempt}`;
        try {
          const res = await fetch(`http://127.0.0.1:${port}/api/publish`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ channel, data: { id, t: Date.now() } }),
            signal: AbortSignal.timeout(2000),
          });
          const body = await res.json().catch(() => ({}));
          if (res.status === 200) {
            ctx.ledger.ack(channel, body.epoch, body.offset, id);
            return `${channel}@${body.epoch}:${body.offset} (attempt ${attempt})`;
          }
        } catch {
          // Not up yet: try again.
        }
        ctx.ledger.failed++;
        if (Date.now() > deadline) return `${channel} not acknowledged within 10 s`;
        await sleep(RETRY_MS);
      }
    }),
  );
  log(`quiet tail: ${results.join(', ')}`);
}
