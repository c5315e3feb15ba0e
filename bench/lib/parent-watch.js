// Preloaded (node --import) into the server under test by bench/run.js: if the benchmark runner dies without
// cleaning up (e.g. SIGKILL), the server notices it was re-parented and exits instead of lingering. Costs one
// unref'd 500 ms timer, for the baseline and Switchboard alike. `serve --workers N` forks its workers with the same
// node flags, so they load this too: a worker watches its primary instead (which watches the runner).
import cluster from 'node:cluster';

const expected = cluster.isWorker ? process.ppid : Number(process.env.BENCH_PARENT_PID);
if (expected > 0) {
  setInterval(() => {
    if (process.ppid !== expected) process.exit(0);
  }, 500).unref();
}

// SIGUSR2: one full garbage collection (the flag is set at run time: the server's own flags stay as they are). Idle
// scenarios send it before reading RSS, so their "after a full GC" figure leaves out the connect phase's garbage,
// which a major GC may or may not have collected by the time RSS is read.
import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
process.on('SIGUSR2', () => gc());
