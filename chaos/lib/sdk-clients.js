// Subscribers and a publisher built on the SDK (dist/client): the WebSocket client with resume and the SSE client
// (fetch reader). Their socket or stream is swapped for one that connects to a random node, so after a fault a client
// lands on either node, and `drop()` cuts it like a network failure (the SDK reconnects and resumes by itself). The
// StreamLog sees exactly what the SDK hands the application.
import WebSocket from 'ws';
import { createClient, createSseClient } from '../../dist/client/index.js';
import { StreamLog } from './checker.js';

/** The same URL on another node's port. */
const retarget = (url, port) => {
  const u = new URL(url);
  u.port = String(port);
  return u.toString();
};

const SDK_OPTIONS = { minReconnectDelay: 200, maxReconnectDelay: 2000, timeout: 5000 };

/** Feeds one SDK subscription into a StreamLog; resubscribes after a refused subscribe (e.g. Redis down). */
function watch(sub, log, ctx) {
  let reason;
  sub.on('recoveryFailed', (r) => (reason = r.reason));
  sub.on('subscribed', (s) => {
    log.subscribed({ ...s, reason });
    reason = undefined;
  });
  sub.on('publication', (p) => log.publication(p.epoch, p.offset, p.data));
  sub.on('error', () => {
    ctx.stats.subscribeErrors++;
    setTimeout(() => {
      if (!ctx.stopped() && sub.state === 'unsubscribed') sub.subscribe();
    }, 500);
  });
}

export function sdkWsSubscriber({ name, channels, ctx }) {
  let current = null;
  class ChaosWs extends WebSocket {
    constructor(url) {
      super(retarget(url, ctx.pickPort()));
      current = this;
    }
  }
  const client = createClient({ url: `ws://127.0.0.1:${ctx.ports[0]}/ws`, params: { user: name }, WebSocket: ChaosWs, ...SDK_OPTIONS });
  follow(client, name, 'sdk-ws', channels, ctx);
  return { name, kind: 'sdk-ws', drop: () => current?.terminate(), close: () => client.disconnect() };
}

/** Subscribes the SDK client to each channel, each with its own stream log, and connects it. */
function follow(client, name, kind, channels, ctx) {
  client.on('error', () => {});
  for (const ch of channels) {
    const log = new StreamLog(name, kind, ch, ctx.ledger, ctx.delivery);
    ctx.streams.push(log);
    const sub = client.newSubscription(ch);
    watch(sub, log, ctx);
    sub.subscribe();
  }
  client.connect();
}

export function sdkSseSubscriber({ name, channels, ctx }) {
  let abort = null;
  const chaosFetch = (url, init = {}) => {
    const ac = new AbortController();
    init.signal?.addEventListener('abort', () => ac.abort(), { once: true });
    abort = ac;
    return fetch(retarget(url, ctx.pickPort()), { ...init, signal: ac.signal });
  };
  const client = createSseClient({ url: `http://127.0.0.1:${ctx.ports[0]}/events`, params: { user: name }, transport: 'fetch', fetch: chaosFetch, ...SDK_OPTIONS });
  follow(client, name, 'sdk-sse', channels, ctx);
  return { name, kind: 'sdk-sse', drop: () => abort?.abort(), close: () => client.disconnect() };
}

/** A WebSocket publisher: `send` resolves with the reply's position. */
export function sdkWsPublisher({ name, ctx }) {
  let current = null;
  class ChaosWs extends WebSocket {
    constructor(url) {
      super(retarget(url, ctx.pickPort()));
      current = this;
    }
  }
  // A publish waits up to 10 s for its reply: longer than the server's own Redis command deadline (5 s), so the
  // acknowledgement latency shows whether a publication in flight when Redis froze got an answer at the deadline.
  const client = createClient({ url: `ws://127.0.0.1:${ctx.ports[0]}/ws`, params: { user: name }, WebSocket: ChaosWs, ...SDK_OPTIONS, timeout: 10_000 });
  client.on('error', () => {});
  client.connect();
  return {
    name,
    kind: 'ws-publisher',
    send: (channel, data) => client.publish(channel, data),
    drop: () => current?.terminate(),
    close: () => client.disconnect(),
  };
}
