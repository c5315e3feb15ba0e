/** A failed listen explained in one line that names the option to change (no stack: the cause is the operator's). */
import { createServer } from 'node:net';
import { configSource, type Config } from '../config/index.js';

export function listenErrorLine(err: unknown, config: Config): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const from = (path: string) => `(${path} from ${configSource(config, path)})`;
  const other = config.port === 8080 ? 8081 : 8080;
  switch (code) {
    case 'EADDRINUSE':
      return `port ${config.port} on ${config.host} is already in use ${from('port')}. Stop the other process, or choose another port: --port ${other} (or PORT=${other}, SWITCHBOARD_PORT=${other}).`;
    case 'EACCES':
      return `no permission to listen on port ${config.port} ${from('port')}: ports below 1024 need privileges. Choose another port: --port ${other} (or PORT=${other}, SWITCHBOARD_PORT=${other}).`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${config.host} ${from('host')}: not an address of this machine. Use --host 127.0.0.1, or --host 0.0.0.0 for every interface (SWITCHBOARD_HOST).`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve host "${config.host}" ${from('host')}. Use an address such as --host 127.0.0.1 (SWITCHBOARD_HOST).`;
    default:
      return undefined;
  }
}

/** Binds and releases config.host:config.port once; the one-line explanation when that fails, else undefined. */
export function probePort(config: Config): Promise<string | undefined> {
  if (config.port === 0) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (err) => resolve(listenErrorLine(err, config) ?? undefined));
    probe.listen(config.port, config.host, () => probe.close(() => resolve(undefined)));
  });
}
