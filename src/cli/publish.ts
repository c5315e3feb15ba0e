import { parseArgs } from 'node:util';
import type { Command } from './command.js';
import { apiFailure, DEFAULT_URL, remoteFrom, unreachable, UsageError } from './remote.js';
import { runClientCommand } from './run-client.js';

const USAGE = '<channel> <json> [--event <name>] [--key <key> [--op upsert|delete]] [--exclude <client>] [--url <url>] [--api-key <key>]';

/** `switchboard publish news '{"title":"hi"}'`: one POST /api/publish; prints the position as one JSON line. */
export const publishCommand: Command = {
  name: 'publish',
  usage: USAGE,
  summary: 'publish JSON data to a channel through the server API; prints {"channel","epoch","offset"}',
  details: () => `Arguments:
  <channel>          channel name
  <json>             the data, as JSON: '{"title":"hi"}', 42, '"a string"'; "-" reads it from stdin

Options:
  --event <name>     event name (default "message")
  --key <key>        keyed channels: the key this publication sets (docs/keyed-channels.md)
  --op <op>          keyed channels: upsert (default) or delete; a delete takes no <json>
  --exclude <client> a connection id (GET /api/connections) that does not receive it
  --url <url>        server, default ${DEFAULT_URL} (env SWITCHBOARD_URL)
  --api-key <key>    the server's API key (env SWITCHBOARD_API_KEY)

Exit codes: 0 published, 1 the server refused or could not be reached, 2 bad usage or invalid JSON.
`,
  run: (args, env) => runClientCommand('publish', () => publish(args, env)),
};

async function publish(args: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: { event: { type: 'string' }, key: { type: 'string' }, op: { type: 'string' }, exclude: { type: 'string' }, url: { type: 'string' }, 'api-key': { type: 'string' } },
  });
  const [channel, json, ...extra] = positionals;
  if (values.op !== undefined && values.op !== 'upsert' && values.op !== 'delete') throw new UsageError(`--op must be upsert or delete, not "${values.op}"`);
  if (values.op !== undefined && values.key === undefined) throw new UsageError('--op needs --key');
  const isDelete = values.op === 'delete';
  if (isDelete && json !== undefined) throw new UsageError('a delete takes no <json>: switchboard publish <channel> --key <key> --op delete');
  if (channel === undefined || (json === undefined && !isDelete)) throw new UsageError(`missing ${channel === undefined ? '<channel>' : '<json>'}. Usage: switchboard publish ${USAGE}`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"; quote the JSON as one argument: '{"a":1}'`);
  let data: unknown;
  if (json !== undefined) {
    const text = json === '-' ? await readStdin() : json;
    try {
      data = JSON.parse(text);
    } catch {
      throw new UsageError(`<json> is not valid JSON: ${text.slice(0, 80)}. Quote strings as JSON: '"hello"'`);
    }
  }
  const remote = remoteFrom(values, env);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (remote.apiKey) headers['x-api-key'] = remote.apiKey;
  const body = JSON.stringify({
    channel,
    ...(json === undefined ? {} : { data }),
    ...(values.event === undefined ? {} : { event: values.event }),
    ...(values.key === undefined ? {} : { key: values.key }),
    ...(values.op === undefined ? {} : { op: values.op }),
    ...(values.exclude === undefined ? {} : { exclude: values.exclude }),
  });
  const url = `${remote.url}/api/publish`;
  const res = await fetch(url, { method: 'POST', headers, body }).catch((err: unknown) => { throw unreachable(remote.url, err); });
  if (!res.ok) throw await apiFailure(res);
  process.stdout.write(`${(await res.text()).trim()}\n`);
  return 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
