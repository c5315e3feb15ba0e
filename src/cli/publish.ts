import { parseArgs } from 'node:util';
import type { Command } from './command.js';
import { apiFailure, DEFAULT_URL, remoteFrom, unreachable, UsageError } from './remote.js';
import { runClientCommand } from './run-client.js';

const USAGE = '<channel> <json> [--event <name>] [--url <url>] [--api-key <key>]';

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
    options: { event: { type: 'string' }, url: { type: 'string' }, 'api-key': { type: 'string' } },
  });
  const [channel, json, ...extra] = positionals;
  if (channel === undefined || json === undefined) throw new UsageError(`missing ${channel === undefined ? '<channel>' : '<json>'}. Usage: switchboard publish ${USAGE}`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"; quote the JSON as one argument: '{"a":1}'`);
  const text = json === '-' ? await readStdin() : json;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new UsageError(`<json> is not valid JSON: ${text.slice(0, 80)}. Quote strings as JSON: '"hello"'`);
  }
  const remote = remoteFrom(values, env);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (remote.apiKey) headers['x-api-key'] = remote.apiKey;
  const body = JSON.stringify({ channel, data, ...(values.event === undefined ? {} : { event: values.event }) });
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
