// The Redis the scale-out targets share (bench/run.js): where it is, which process it is (its CPU is part of the
// cost of a delivery), and removing a run's keys afterwards. Each run gets its own key prefix (`--redis.prefix`), so
// runs never see each other's history, stream positions or node registry.
import { existsSync } from 'node:fs';
import { createClient } from 'redis';

/** Only a local Redis: the benchmark measures one machine. Override with BENCH_REDIS_URL (still 127.0.0.1). */
export const REDIS_URL = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';

async function withClient(fn) {
  const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 2000, reconnectStrategy: false } });
  client.on('error', () => {}); // reported through the rejected command instead
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.quit().catch(() => client.destroy());
  }
}

/**
 * The redis-server's pid when its /proc entry is visible here (same machine, same pid namespace), else null.
 * Throws when Redis does not answer.
 */
export async function redisPid() {
  const host = new URL(REDIS_URL).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) throw new Error(`BENCH_REDIS_URL must be a local Redis, not ${host}`);
  const info = await withClient((c) => c.info('server'));
  const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
  return pid > 0 && existsSync(`/proc/${pid}/stat`) ? pid : null;
}

/** The key prefix of one run: `sbbench-<runner pid>-<n>`. */
export const runPrefix = (n) => `sbbench-${process.pid}-${n}`;

/** Deletes the keys left by runs whose runner is gone (killed before it could clean up). Returns the count. */
export async function dropStale() {
  const running = (pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return e.code === 'EPERM';
    }
  };
  return withClient(async (c) => {
    let n = 0;
    for await (const keys of c.scanIterator({ MATCH: 'sbbench-*', COUNT: 500 })) {
      const stale = keys.filter((k) => !running(Number(/^sbbench-(\d+)-/.exec(k)?.[1])));
      if (stale.length) n += await c.unlink(stale);
    }
    return n;
  });
}

/** Deletes every key under `prefix:` (history, stream positions, presence, node registry). Returns the count. */
export async function dropPrefix(prefix) {
  if (!/^[\w.-]+$/.test(prefix)) throw new Error(`refusing to drop keys of odd prefix ${prefix}`);
  return withClient(async (c) => {
    let n = 0;
    for await (const keys of c.scanIterator({ MATCH: `${prefix}:*`, COUNT: 500 })) {
      if (keys.length) n += await c.unlink(keys);
    }
    return n;
  });
}

/**
 * Redis memory: `used_memory` of the whole server (shared with whatever else uses it: read as a delta, with care)
 * and what this run's keys take (MEMORY USAGE of each key under `prefix:`, exact for them).
 */
export async function redisMemory(prefix) {
  if (!/^[\w.-]+$/.test(prefix)) throw new Error(`odd prefix ${prefix}`);
  return withClient(async (c) => {
    const used = Number(/used_memory:(\d+)/.exec(await c.info('memory'))?.[1]);
    let keys = 0;
    let bytes = 0;
    for await (const batch of c.scanIterator({ MATCH: `${prefix}:*`, COUNT: 500 })) {
      for (const k of batch) {
        keys++;
        bytes += Number(await c.memoryUsage(k)) || 0;
      }
    }
    return { usedBytes: used, prefixKeys: keys, prefixBytes: bytes };
  });
}
