/** Cleanup for tests on the shared Redis: each run uses its own `redis.prefix` and deletes it afterwards. */
import { createClient } from 'redis';

export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379';

/** Deletes every key under `prefix:` (SCAN + DEL), so runs leave the shared Redis clean. */
export async function deleteRedisPrefix(prefix: string, url = SHARED_REDIS_URL): Promise<void> {
  const c = createClient({ url });
  c.on('error', () => {});
  await c.connect();
  try {
    for await (const keys of c.scanIterator({ MATCH: `${prefix}:*`, COUNT: 500 })) if (keys.length > 0) await c.del(keys);
  } finally {
    c.destroy();
  }
}
