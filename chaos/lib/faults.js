// The fault schedule, drawn from the seeded generator: clients cut at random all along, and rounds of the four
// server faults in random order, `gap` seconds apart, each ending with the system restored:
// - node-kill:     SIGKILL one node, start it again on the same port after 0.5–3 s (its clients reconnect to either node);
// - redis-freeze:  SIGSTOP Redis for 2–8 s (past the nodes' 5 s command deadline and health check), then SIGCONT (connections stay open, nothing is answered);
// - redis-restart: SIGKILL Redis and start it again empty after 0.2–2 s (every channel gets a new epoch);
// - redis-freeze-restart: SIGSTOP Redis for 1–4 s, SIGKILL it while frozen, start it again empty after 0.2–2 s.
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const FAULTS = ['node-kill', 'redis-freeze', 'redis-restart', 'redis-freeze-restart'];

export function startFaults({ cluster, clients, rng, log, stats, publishSeconds, firstAt = 10, gap = [12, 25], dropEvery = [0.2, 1.5] }) {
  let stopped = false;
  const t0 = Date.now();
  const elapsed = () => (Date.now() - t0) / 1000;

  const drops = (async () => {
    while (!stopped) {
      await sleep(rng.range(dropEvery[0], dropEvery[1]) * 1000);
      if (stopped) break;
      rng.pick(clients).drop();
      stats.faults['client-drop'] = (stats.faults['client-drop'] ?? 0) + 1;
    }
  })();

  const run = async (kind) => {
    stats.faults[kind] = (stats.faults[kind] ?? 0) + 1;
    if (kind === 'node-kill') {
      const i = rng.int(0, 1);
      const down = rng.range(500, 3000);
      log(`fault: kill -9 ${cluster.nodes[i].role}, restart after ${Math.round(down)} ms`);
      await cluster.nodes[i].kill();
      await sleep(down);
      await cluster.startNode(i);
    } else if (kind === 'redis-freeze') {
      const ms = rng.range(2000, 8000);
      log(`fault: SIGSTOP Redis for ${Math.round(ms)} ms`);
      cluster.redis.freeze();
      await sleep(ms);
      cluster.redis.thaw();
    } else if (kind === 'redis-restart') {
      const down = rng.range(200, 2000);
      log(`fault: kill -9 Redis, restart empty after ${Math.round(down)} ms`);
      await cluster.redis.kill();
      await sleep(down);
      await cluster.startRedis();
    } else {
      const frozen = rng.range(1000, 4000);
      const down = rng.range(200, 2000);
      log(`fault: SIGSTOP Redis for ${Math.round(frozen)} ms, kill -9 it frozen, restart empty after ${Math.round(down)} ms`);
      cluster.redis.freeze();
      await sleep(frozen);
      await cluster.redis.kill();
      await sleep(down);
      await cluster.startRedis();
    }
    stats.faultLog.push({ kind, at: Math.round(elapsed()) });
  };

  const server = (async () => {
    await sleep(firstAt * 1000);
    while (!stopped) {
      for (const kind of rng.sample(FAULTS, FAULTS.length)) {
        // Leave the last stretch of the publishing phase quiet, so the system settles before the drain.
        if (stopped || elapsed() > publishSeconds - 15) return;
        await run(kind);
        const wait = rng.range(gap[0], gap[1]) * 1000;
        const until = Date.now() + wait;
        while (!stopped && Date.now() < until) await sleep(Math.min(500, until - Date.now()));
      }
    }
  })();

  return {
    /** Stops scheduling; resolves once a fault under way has been undone. */
    async stop() {
      stopped = true;
      await Promise.all([drops, server]);
    },
  };
}
