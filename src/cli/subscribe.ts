import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { createClient, createSseClient, type Publication, type StreamPosition } from '../client/index.js';
import { parseDuration } from '../config/fields.js';
import { parsePosition } from '../protocol/index.js';
import type { Command } from './command.js';
import { DEFAULT_URL, remoteFrom, UsageError } from './remote.js';
import { runClientCommand } from './run-client.js';

const USAGE = '<channel>... [--sse] [--since <epoch:offset>] [--count <n>] [--url <url>] [--token <jwt>] [--user <id>]';

/**
 * `switchboard subscribe news alerts`: prints every publication as one JSON line on stdout (for jq), status lines on
 * stderr. Built on the SDK, so it reconnects and resumes like any client: a line is printed once, in order.
 */
export const subscribeCommand: Command = {
  name: 'subscribe',
  usage: USAGE,
  summary: 'print the publications of channels as JSON lines (WebSocket, or SSE with --sse); resumes across reconnects',
  details: () => `Arguments:
  <channel>...          one or more channels

Options:
  --sse                 read over Server-Sent Events instead of WebSocket
  --since <epoch:offset>  start after this position (as printed in earlier lines) instead of from now
  --count <n>           exit 0 after n publications
  --timeout <duration>  exit 1 if nothing arrives for this long (default: wait forever)
  --url <url>           server, default ${DEFAULT_URL} (env SWITCHBOARD_URL); a path in it replaces /ws or /events
  --token <jwt>         connection token (env SWITCHBOARD_TOKEN); see "switchboard token"
  --user <id>           user id in development mode (server without JWT)

Each line: {"channel","event","data","epoch","offset","timestamp"[,"key","op"][,"traceparent"]}; on a keyed
channel the current state (one line per key) comes first, then changes (docs/keyed-channels.md).
Status (connected, disconnected, recovery failed) goes to stderr. Ctrl-C exits 0.
Exit codes: 0 done, 1 the server refused or stopped the subscription, 2 bad usage.
`,
  run: (args, env) => runClientCommand('subscribe', () => subscribe(args, env)),
};

async function subscribe(args: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const { values, positionals: channels } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      sse: { type: 'boolean', default: false }, since: { type: 'string' }, count: { type: 'string' }, timeout: { type: 'string' },
      url: { type: 'string' }, token: { type: 'string' }, user: { type: 'string' },
    },
  });
  if (channels.length === 0) throw new UsageError(`missing <channel>. Usage: switchboard subscribe ${USAGE}`);
  let since: StreamPosition | undefined;
  if (values.since !== undefined) {
    since = parsePosition(values.since);
    if (!since) throw new UsageError(`--since "${values.since}" is not a position epoch:offset such as 3f9a0c1e:42`);
    if (channels.length > 1) throw new UsageError('--since is a position in one channel: give one <channel> with it');
  }
  const count = values.count === undefined ? Infinity : Number(values.count);
  if (count !== Infinity && (!Number.isInteger(count) || count < 1)) throw new UsageError(`--count "${values.count}" is not a whole number ≥ 1`);
  const idleMs = values.timeout === undefined ? 0 : parseDuration(values.timeout);
  if (idleMs === undefined || (values.timeout !== undefined && idleMs < 1)) throw new UsageError(`--timeout "${values.timeout}" is not a duration such as 10s`);

  const remote = remoteFrom(values, env);
  const base = new URL(remote.url);
  const endpoint = base.pathname.length > 1 ? remote.url : `${remote.url}${values.sse ? '/events' : '/ws'}`;
  const common = {
    url: values.sse ? endpoint : endpoint.replace(/^http/, 'ws'),
    ...(remote.token ? { token: remote.token } : {}),
    ...(values.user ? { params: { user: values.user } } : {}),
  };
  // `ws` rather than a runtime's global WebSocket: it shows a refused upgrade's status and reason (a 401 with why),
  // so a bad token ends the command with the server's words instead of endless 1006 retries.
  const client = values.sse ? createSseClient(common) : createClient({ ...common, WebSocket });
  const status = (what: string, detail: Record<string, unknown> = {}): void => {
    process.stderr.write(`${JSON.stringify({ status: what, ...detail })}\n`);
  };

  return new Promise<number>((resolve) => {
    let received = 0;
    let idle: NodeJS.Timeout | undefined;
    const finish = (code: number): void => {
      clearTimeout(idle);
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      client.disconnect();
      resolve(code);
    };
    const armIdle = (): void => {
      if (idleMs === 0) return;
      clearTimeout(idle);
      idle = setTimeout(() => {
        status('timeout', { after_ms: idleMs });
        finish(1);
      }, idleMs);
    };
    const onSignal = (): void => finish(0);
    process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
    process.stdout.on('error', () => finish(0)); // the reader went away (| head): a normal end

    client.on('connected', (c) => status('connected', { user: c.user, client: c.client }));
    client.on('disconnected', (d) => {
      status('disconnected', { code: d.code, reason: d.reason, reconnect: d.reconnect });
      if (!d.reconnect && d.code !== 3000) finish(1);
    });
    client.on('error', ({ error, channel }) => {
      status('error', { code: error.code, message: error.message, ...(channel ? { channel } : {}) });
      if (channel !== undefined) finish(1); // the server refused a subscription: nothing to wait for
    });
    for (const channel of channels) {
      const sub = client.subscribe(channel, since ? { since } : undefined);
      sub.on('subscribed', (s) => status('subscribed', { channel, epoch: s.epoch, offset: s.offset, recovered: s.recovered }));
      sub.on('recoveryFailed', (r) => status('recovery_failed', { channel, reason: r.reason, epoch: r.epoch, offset: r.offset }));
      sub.on('publication', (p: Publication) => {
        process.stdout.write(`${line(p)}\n`);
        armIdle();
        if (++received >= count) finish(0);
      });
    }
    armIdle();
    client.connect();
  });
}

function line(p: Publication): string {
  return JSON.stringify({
    channel: p.channel, event: p.event, data: p.data, epoch: p.epoch, offset: p.offset, timestamp: p.timestamp,
    ...(p.key !== undefined ? { key: p.key, op: p.op } : {}),
    ...(p.traceparent ? { traceparent: p.traceparent } : {}),
  });
}
