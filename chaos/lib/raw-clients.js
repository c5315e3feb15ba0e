// Subscribers that speak the protocol themselves (docs/protocol.md), without the SDK: a raw WebSocket that
// subscribes with `since` = its last position on every connection, and a raw SSE stream over node:http that resumes
// with Last-Event-ID. They hand every publication the server sends to the StreamLog (a duplicate from the server is
// counted, not filtered), except a skip: by the protocol's client rule a skipped offset or a live epoch change is a
// gap, so the client drops the connection and resumes from its position (counted as `client gaps`).
import http from 'node:http';
import WebSocket from 'ws';
import { StreamLog } from './checker.js';

/** Per-channel state shared by both raw clients. */
function channelStates(name, kind, channels, ctx) {
  return channels.map((ch) => {
    const log = new StreamLog(name, kind, ch, ctx.ledger, ctx.delivery);
    ctx.streams.push(log);
    return { ch, log, pos: null, since: null, live: false };
  });
}

/** The subscribe result of a channel (WebSocket reply or SSE `connected` entry). */
function onResult(s, r) {
  s.live = true;
  const resumed = s.since !== null;
  s.log.subscribed({ recovered: resumed && r.recovered, wasRecovering: resumed, epoch: r.epoch, offset: r.offset, reason: r.reason });
  if (!(resumed && r.recovered)) s.pos = { epoch: r.epoch, offset: r.offset };
}

/** A publication push: 'ok', or 'gap' (the caller reconnects). */
function onPublication(s, m, ctx) {
  if (!s.live || !s.pos) {
    ctx.stats.early++;
    return 'ok';
  }
  const { epoch, offset } = s.pos;
  if (m.epoch === epoch && m.offset <= offset) {
    s.log.publication(m.epoch, m.offset, m.payload); // the server repeated itself: the checker counts it
    return 'ok';
  }
  if (m.epoch !== epoch || m.offset !== offset + 1) {
    ctx.stats.clientGaps++;
    return 'gap';
  }
  s.pos = { epoch: m.epoch, offset: m.offset };
  // --sabotage N (a self-test of the checker): one publication in N is swallowed, one in N handed over twice.
  if (ctx.sabotage && ctx.rng.next() < 1 / ctx.sabotage) return 'ok';
  s.log.publication(m.epoch, m.offset, m.payload);
  if (ctx.sabotage && ctx.rng.next() < 1 / ctx.sabotage) s.log.publication(m.epoch, m.offset, m.payload);
  return 'ok';
}

/** caught_up must name the position the client holds (no keyed channels here). */
function onCaughtUp(s, m, ctx) {
  if (!s.pos || m.epoch !== s.pos.epoch || m.offset !== s.pos.offset) {
    ctx.stats.clientGaps++;
    return 'gap';
  }
  return 'ok';
}

export function rawWsSubscriber({ name, channels, ctx }) {
  const states = channelStates(name, 'raw-ws', channels, ctx);
  const byChannel = new Map(states.map((s) => [s.ch, s]));
  const pending = new Map();
  let sock = null;
  let nextId = 1;

  const connect = () => {
    if (ctx.stopped()) return;
    const ws = new WebSocket(`ws://127.0.0.1:${ctx.pickPort()}/ws?user=${name}`);
    sock = ws;
    ws.on('error', () => {});
    ws.on('message', (buf) => {
      if (ws.dead) return;
      if (onFrame(ws, JSON.parse(buf.toString())) === 'gap') cut(ws);
    });
    ws.on('close', () => {
      ws.dead = true;
      if (sock !== ws) return;
      sock = null;
      pending.clear();
      for (const s of states) s.live = false;
      setTimeout(connect, ctx.rng.int(100, 1000));
    });
  };
  const cut = (ws) => {
    ws.dead = true;
    ws.terminate();
  };
  const onFrame = (ws, m) => {
    if (m.push === 'connected') {
      for (const s of states) {
        const id = nextId++;
        pending.set(id, s);
        s.since = s.pos;
        ws.send(JSON.stringify({ id, method: 'subscribe', params: { channel: s.ch, ...(s.pos ? { since: s.pos } : {}) } }));
      }
      return 'ok';
    }
    if (m.id !== undefined && m.id !== null) {
      const s = pending.get(m.id);
      pending.delete(m.id);
      if (!s) return 'ok';
      if (m.error) {
        ctx.stats.subscribeErrors++;
        return 'gap';
      }
      onResult(s, m.result);
      return 'ok';
    }
    const s = byChannel.get(m.channel);
    if (!s) return 'ok';
    if (m.push === 'publication') return onPublication(s, m, ctx);
    if (m.push === 'caught_up') return onCaughtUp(s, m, ctx);
    return 'ok';
  };
  connect();
  return {
    name,
    kind: 'raw-ws',
    drop: () => sock && cut(sock),
    close: () => sock?.terminate(),
  };
}

/** Splits SSE text into events ({ event, data }); returns the unparsed rest. */
function parseSse(buf, onEvent) {
  let i;
  while ((i = buf.indexOf('\n\n')) >= 0) {
    const block = buf.slice(0, i);
    buf = buf.slice(i + 2);
    let event = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length) onEvent(event, data.join('\n'));
  }
  return buf;
}

export function rawSseSubscriber({ name, channels, ctx }) {
  const states = channelStates(name, 'raw-sse', channels, ctx);
  const byChannel = new Map(states.map((s) => [s.ch, s]));
  const query = states.map((s) => `channel=${encodeURIComponent(s.ch)}`).join('&') + `&user=${name}`;
  let req = null;

  const connect = () => {
    if (ctx.stopped()) return;
    const resume = states.every((s) => s.pos);
    const headers = resume ? { 'last-event-id': states.map((s) => `${s.pos.epoch}:${s.pos.offset}`).join(',') } : {};
    for (const s of states) {
      s.since = resume ? s.pos : null;
      s.live = false;
    }
    let ended = false;
    const r = http.get({ host: '127.0.0.1', port: ctx.pickPort(), path: `/events?${query}`, headers, agent: false });
    req = r;
    const end = () => {
      if (ended) return;
      ended = true;
      r.destroy();
      if (req === r) setTimeout(connect, ctx.rng.int(100, 1000));
    };
    r.on('error', end);
    r.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return end();
      }
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (d) => {
        if (ended) return;
        buf = parseSse(buf + d, (event, data) => {
          if (ended) return;
          if (onEvent(event, JSON.parse(data)) === 'gap') end();
        });
      });
      res.on('end', end);
      res.on('error', end);
      res.on('close', end);
    });
  };
  const onEvent = (event, d) => {
    if (event === 'connected') {
      if (d.error) ctx.stats.badLastEventId++;
      d.channels.forEach((r, i) => onResult(states[i], r));
      return 'ok';
    }
    if (event === 'stream_error') {
      ctx.stats.subscribeErrors++;
      return 'gap';
    }
    const s = byChannel.get(d.channel);
    if (!s) return 'ok';
    if (d.push === 'publication') return onPublication(s, d, ctx);
    if (d.push === 'caught_up') return onCaughtUp(s, d, ctx);
    return 'ok';
  };
  connect();
  return {
    name,
    kind: 'raw-sse',
    drop: () => req?.destroy(new Error('chaos drop')),
    close: () => {
      const r = req;
      req = null;
      r?.destroy();
    },
  };
}
