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
