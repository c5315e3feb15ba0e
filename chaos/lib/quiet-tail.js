// The quiet tail, the last steps before the final check (--tail N channels, 0 skips it). Every subscriber holds the
// tail channels from the start, and they get no publication until the end. During the run a publication that a node
// missed (its pub/sub connection was not subscribed again yet) is revealed by the channel's next one: the node sees
// the gap or the new epoch and its subscribers resume. In the tail nothing follows, so a subscriber either gets the
// publication, or is told (4004, then recovered:false), or is left without it and without a word, which the checker
// counts as lost. Two rounds, each giving every tail channel exactly one publication, their first attempts
// STAGGER_MS apart so that they land at different moments of the nodes' reconnection:
// 1. Redis killed and restarted empty; publish as soon as it answers.
// 2. (after a drain) Redis frozen for FREEZE_MS, longer than two subscriber health checks (5 s apart), so the nodes
//    replace their subscriber connections; publish the moment it is thawed. Nothing restarts after this round, so
//    a publication a node missed here stays missed: no epoch change tells anyone.
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const STAGGER_MS = 15;
const RETRY_MS = 10;
const FREEZE_MS = 11_000;

/** One publication on each channel, attempts staggered, retried until acknowledged (10 s). */
async function publishEach(channels, cluster, ctx, round) {
  return Promise.all(
    channels.map(async (channel, i) => {
      await sleep(i * STAGGER_MS);
      const port = cluster.ports[i % cluster.ports.length];
      const deadline = Date.now() + 10_000;
      for (let attempt = 1; ; attempt++) {
        const id = `tail${round}.${i}.${attempt}`;
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
}

/** Round 1; `drain` runs between the rounds; round 2. */
export async function quietTail({ cluster, channels, ctx, log, drain }) {
  log(`quiet tail 1: kill -9 Redis, restart it empty, then one publication on each of ${channels.length} tail channels`);
  await cluster.redis.kill();
  await sleep(300);
  await cluster.startRedis();
  log(`quiet tail 1: ${(await publishEach(channels, cluster, ctx, 1)).join(', ')}`);
  await drain();
  log(`quiet tail 2: SIGSTOP Redis for ${FREEZE_MS} ms, then one publication on each tail channel as it thaws`);
  cluster.redis.freeze();
  await sleep(FREEZE_MS);
  cluster.redis.thaw();
  log(`quiet tail 2: ${(await publishEach(channels, cluster, ctx, 2)).join(', ')}`);
}
