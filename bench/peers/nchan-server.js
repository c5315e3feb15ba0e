// Nchan peer for the benchmark: writes an nginx.conf into a temporary directory and runs Debian's nginx with
// libnginx-mod-nchan on 127.0.0.1:<port>, one worker (`--workers N` for more), in the foreground as this
// process's child. Routes mirror Switchboard's so the load generator changes little:
//   POST /api/publish?channel=C   body = the message (the publication's data, not Switchboard's envelope)
//   GET  /ws?channel=C            WebSocket subscriber (messages are the bodies as published)
//   GET  /events?channel=C        EventSource subscriber
//   GET  /readyz                  200
// This wrapper stays in front so the runner can start, watch and stop it like the other servers: SIGTERM, or the
// runner going away (bench/lib/parent-watch.js), stops nginx (SIGTERM to the master, then SIGKILL) and removes the
// directory. Exit code 3 with a message when nginx or the module is missing.
//
//   node bench/peers/nchan-server.js --port <P> [--workers 1]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const NGINX = '/usr/sbin/nginx';
export const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';

/** Why Nchan cannot run here, or null. */
export function nchanMissing() {
  if (!existsSync(NGINX)) return `${NGINX} not found (apt-get install -y nginx libnginx-mod-nchan)`;
  if (!existsSync(NCHAN_MODULE)) return `${NCHAN_MODULE} not found (apt-get install -y libnginx-mod-nchan)`;
  return null;
}

function conf(dir, port, workers) {
  // The subscriber locations start at the newest message (a new subscriber gets nothing old); 10 messages are
  // kept per channel (Nchan's default). 19,000 connections per worker stay under the 20,000 descriptors a
  // process may hold here.
  return `worker_processes ${workers};
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_rlimit_nofile 20000;
load_module ${NCHAN_MODULE};
events { worker_connections 19000; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  nchan_message_buffer_length 10;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = /readyz { default_type application/json; return 200 '{"status":"ok"}'; }
    location = /api/publish { nchan_publisher http; nchan_channel_id $arg_channel; }
    location = /ws { nchan_subscriber websocket; nchan_channel_id $arg_channel; nchan_subscriber_first_message newest; }
    location = /events { nchan_subscriber eventsource; nchan_channel_id $arg_channel; nchan_subscriber_first_message newest; }
  }
}
`;
}

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  const missing = nchanMissing();
  if (missing) {
    process.stderr.write(`nchan: ${missing}\n`);
    process.exit(3);
  }
  const port = Number(arg('--port', '8080'));
  const workers = Number(arg('--workers', '1'));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sbbench-nchan-'));
  const file = path.join(dir, 'nginx.conf');
  writeFileSync(file, conf(dir, port, workers));
  const nginx = spawn(NGINX, ['-p', dir, '-c', file, '-e', path.join(dir, 'error.log')], { stdio: 'inherit' });
  let stopping = false;
  const workerPids = () => {
    try {
      return readFileSync(`/proc/${nginx.pid}/task/${nginx.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  const kill = (pid, sig) => {
    try {
      process.kill(pid, sig);
    } catch {}
  };
  // Synchronous last resort (on exit): the master and its workers go at once.
  const hardStop = () => {
    if (nginx.exitCode !== null || nginx.signalCode !== null) return;
    for (const pid of workerPids()) kill(pid, 'SIGKILL');
    kill(nginx.pid, 'SIGKILL');
  };
  process.on('exit', () => {
    hardStop();
    rmSync(dir, { recursive: true, force: true });
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    kill(nginx.pid, 'SIGTERM'); // nginx: fast shutdown, the master stops its workers
    setTimeout(() => process.exit(0), 2000).unref();
  };
  nginx.once('exit', (code, sig) => {
    if (!stopping) process.stderr.write(`nginx exited (code ${code}, signal ${sig}); see ${dir}/error.log\n${readFileSync(path.join(dir, 'error.log'), 'utf8').slice(-2000)}`);
    process.exit(stopping ? 0 : 1);
  });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, stop);
}
