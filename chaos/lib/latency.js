// Latency counts in fixed buckets (ms), for publish acknowledgements and deliveries. Informative, not pass/fail:
// faults make some deliveries late on purpose (a resume replays what a cut connection missed), but a publication
// that reaches a subscriber seconds after its acknowledgement on a quiet channel, or acknowledgements that wait as
// long as Redis is frozen, show up here.
const BOUNDS = [10, 100, 1000, 5000];

export class Latency {
  constructor() {
    this.counts = new Array(BOUNDS.length + 1).fill(0);
    this.max = 0;
    this.n = 0;
  }
  record(ms) {
    if (!(ms >= 0)) return;
    let i = 0;
    while (i < BOUNDS.length && ms >= BOUNDS[i]) i++;
    this.counts[i]++;
    this.n++;
    if (ms > this.max) this.max = ms;
  }
  /** { '<10ms': n, '10-100ms': n, ..., '>=5000ms': n, max_ms } */
  summary() {
    const out = {};
    this.counts.forEach((c, i) => {
      const lo = BOUNDS[i - 1];
      const hi = BOUNDS[i];
      out[lo === undefined ? `<${hi}ms` : hi === undefined ? `>=${lo}ms` : `${lo}-${hi}ms`] = c;
    });
    out.max_ms = Math.round(this.max);
    return out;
  }
}
