// CPU profile of a server under test over the measured stretch only (issue #15): preloaded with
//   BENCH_PHASE_FILE=/tmp/phase BENCH_SERVER_NODE_ARGS="--import ./bench/lib/cpu-probe.js" node bench/run.js ...
// it starts V8's sampling CPU profiler when the file appears (run.js creates it just before the measured
// publications and removes it after the drain) and, when the file is gone, writes <file>-<pid>.cpuprofile. Unlike
// --cpu-prof, startup, the connect phase and the warm-up are not in it. Open it in Chrome DevTools or read it with
// bench/lib/profile-stretches.js.
import fs from 'node:fs';
import inspector from 'node:inspector';

const trigger = process.env.BENCH_PHASE_FILE;
if (trigger) {
  const session = new inspector.Session();
  session.connect();
  let on = false;
  const fail = (err) => err && process.stderr.write(`cpu-probe: ${err.message}\n`);
  session.post('Profiler.enable', fail);
  session.post('Profiler.setSamplingInterval', { interval: 500 }, fail);
  setInterval(() => {
    const want = fs.existsSync(trigger);
    if (want && !on) {
      on = true;
      session.post('Profiler.start', fail);
    } else if (!want && on) {
      on = false;
      session.post('Profiler.stop', (err, r) => {
        if (err) return fail(err);
        fs.writeFileSync(`${trigger}-${process.pid}.cpuprofile`, JSON.stringify(r.profile));
      });
    }
  }, 50).unref();
}
