// Allocation profile of a server under test, for a chosen stretch of a run (issue #15): preloaded with
//   BENCH_ALLOC_TRIGGER=/tmp/alloc-on BENCH_SERVER_NODE_ARGS="--import ./bench/lib/alloc-probe.js" node bench/run.js ...
// it starts V8's sampling heap profiler when the trigger file appears and, when the file is removed, writes
// <trigger>-<pid>.heapprofile (Chrome DevTools' format). Objects already collected by a scavenge or a mark-compact
// are kept in the profile, so it counts everything allocated in the stretch, not only what survived it.
import fs from 'node:fs';
import inspector from 'node:inspector';

const trigger = process.env.BENCH_ALLOC_TRIGGER || process.env.BENCH_PHASE_FILE;
if (trigger) {
  const session = new inspector.Session();
  session.connect();
  let on = false;
  setInterval(() => {
    const want = fs.existsSync(trigger);
    if (want && !on) {
      on = true;
      session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }, (err) => {
        if (err) process.stderr.write(`alloc-probe: ${err.message}\n`);
      });
    } else if (!want && on) {
      on = false;
      session.post('HeapProfiler.stopSampling', (err, r) => {
        if (err) return process.stderr.write(`alloc-probe: ${err.message}\n`);
        fs.writeFileSync(`${trigger}-${process.pid}.heapprofile`, JSON.stringify(r.profile));
      });
    }
  }, 200).unref();
}
