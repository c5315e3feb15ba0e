// Log-bucketed latency histogram (about 1 % relative precision), mergeable across processes.
// Values are recorded in milliseconds; buckets are kept in microseconds.

const GROWTH = 1.01;
const INV_LOG = 1 / Math.log(GROWTH);
const NBUCKETS = Math.ceil(Math.log(600e6) * INV_LOG) + 2; // up to 10 minutes

export class Histogram {
  constructor() {
    this.counts = new Uint32Array(NBUCKETS);
    this.n = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = -Infinity;
  }

  /** @param {number} ms */
  record(ms) {
    this.n++;
    this.sum += ms;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
    const us = ms * 1000;
    let i = us < 1 ? 0 : ((Math.log(us) * INV_LOG) | 0) + 1;
    if (i >= NBUCKETS) i = NBUCKETS - 1;
    this.counts[i]++;
  }

  /** Sparse, structured-clone friendly form for IPC. */
  toJSON() {
    const b = [];
    for (let i = 0; i < NBUCKETS; i++) if (this.counts[i] !== 0) b.push(i, this.counts[i]);
    return { n: this.n, sum: this.sum, min: this.n ? this.min : null, max: this.n ? this.max : null, b };
  }

  merge(j) {
    if (!j || !j.n) return this;
    this.n += j.n;
    this.sum += j.sum;
    if (j.min < this.min) this.min = j.min;
    if (j.max > this.max) this.max = j.max;
    for (let k = 0; k < j.b.length; k += 2) this.counts[j.b[k]] += j.b[k + 1];
    return this;
  }

  /** Percentile in ms (bucket midpoint, clamped to the exact min/max). */
  percentile(p) {
    if (this.n === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let acc = 0;
    for (let i = 0; i < NBUCKETS; i++) {
      acc += this.counts[i];
      if (acc >= rank) {
        const lo = i === 0 ? 0 : Math.pow(GROWTH, i - 1);
        const hi = Math.pow(GROWTH, i);
        const ms = (lo + hi) / 2 / 1000;
        return Math.min(this.max, Math.max(this.min, ms));
      }
    }
    return this.max;
  }

  summary() {
    return {
      count: this.n,
      mean: this.n ? this.sum / this.n : null,
      min: this.n ? this.min : null,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.n ? this.max : null,
    };
  }
}
