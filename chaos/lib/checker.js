// The checker: acknowledged publications (the ledger) against what each subscriber delivered to the application,
// per subscriber and channel (a StreamLog). Definitions (docs/reliability.md repeats them):
//
// - acknowledged: the publish reply (HTTP 200 or the WebSocket result) with its position (epoch, offset) arrived.
// - segment: what a subscriber is owed. A subscribe that did not recover (the first one, or a resume answered
//   recovered:false) opens one at the reply's position (epoch, start); a recovered resume continues the current one.
// - owed: an acknowledged publication (E, o) with start < o <= end for a segment of epoch E, where end is the last
//   offset delivered in that segment when a later reset closed it, or the channel's top acknowledged offset in E for
//   the subscriber's last segment; also every acknowledged publication of an epoch that began after the subscriber's
//   last segment started (it was never told that epoch exists).
// - lost: owed and never delivered. covered: acknowledged after the subscriber's first subscribe, not owed, not
//   delivered: the subscriber was told recovered:false for it (a signalled reset).
// - duplicated: a position delivered twice to the same subscriber. out of order: a position delivered below the
//   highest one of its epoch (and not a duplicate), or outside the current segment's epoch, or at or below the start
//   of its segment. mismatched: the payload delivered at a position is not the one acknowledged there.
// - position conflicts: two different publications acknowledged at the same position.

const SAMPLES = 10;

export class Ledger {
  /** @param now  clock in ms (tests pass their own) */
  constructor(now = Date.now) {
    this.now = now;
    /** channel → { epochs: Map(epoch → { firstAt, top, ids: Map(offset → id) }), last } */
    this.channels = new Map();
    this.acked = 0;
    this.failed = 0;
    this.conflicts = 0;
    this.conflictSamples = [];
  }
  ch(channel) {
    let c = this.channels.get(channel);
    if (!c) this.channels.set(channel, (c = { epochs: new Map(), last: null }));
    return c;
  }
  ack(channel, epoch, offset, id) {
    const c = this.ch(channel);
    let e = c.epochs.get(epoch);
    if (!e) {
      c.epochs.set(epoch, (e = { firstAt: this.now(), top: 0, ids: new Map() }));
      c.last = epoch;
    }
    const prev = e.ids.get(offset);
    if (prev !== undefined && prev !== id) {
      this.conflicts++;
      if (this.conflictSamples.length < SAMPLES) this.conflictSamples.push({ channel, epoch, offset, ids: [prev, id] });
      return;
    }
    this.acked++;
    e.ids.set(offset, id);
    if (offset > e.top) e.top = offset;
  }
  idAt(channel, epoch, offset) {
    return this.channels.get(channel)?.epochs.get(epoch)?.ids.get(offset);
  }
}

/** Ranges [a, b] of delivered offsets of one epoch, appended in delivery order. */
const inRanges = (ranges, o) => ranges.some(([a, b]) => o >= a && o <= b);

export class StreamLog {
  /** @param latency  optional Latency recorder of delivery delays (payload `t` = publish time, ms) */
  constructor(client, kind, channel, ledger, latency) {
    this.latency = latency;
    this.client = client;
    this.kind = kind;
    this.channel = channel;
    this.ledger = ledger;
    this.segments = [];
    this.cur = null;
    /** epoch → ranges of delivered offsets */
    this.delivered = new Map();
    this.count = 0;
    this.duplicated = 0;
    this.outOfOrder = 0;
    this.mismatched = 0;
    this.resets = 0;
    this.reasons = {};
    this.samples = [];
  }

  /** A (re)subscribe went live. `reason` is the server's, for a resume that did not recover. */
  subscribed({ recovered, wasRecovering, epoch, offset, reason }) {
    if (recovered && this.cur) {
      if (epoch !== this.cur.epoch) this.note('recovered into another epoch', { epoch, offset });
      return;
    }
    if (wasRecovering || this.cur) {
      this.resets++;
      const r = reason ?? 'unknown';
      this.reasons[r] = (this.reasons[r] ?? 0) + 1;
    }
    if (this.cur) this.cur.closed = true;
    this.cur = { epoch, start: offset, last: offset, at: this.ledger.now(), closed: false };
    this.segments.push(this.cur);
  }

  /** A publication handed to the application; `data` is its payload ({ id, t, pad }). */
  publication(epoch, offset, data) {
    const id = data?.id;
    this.count++;
    if (this.latency && typeof data?.t === 'number') this.latency.record(Date.now() - data.t);
    const seg = this.cur;
    let ranges = this.delivered.get(epoch);
    if (!ranges) this.delivered.set(epoch, (ranges = []));
    const acked = this.ledger.idAt(this.channel, epoch, offset);
    if (acked !== undefined && acked !== id) {
      this.mismatched++;
      this.note('payload mismatch', { epoch, offset, id, acked });
    }
    if (inRanges(ranges, offset)) {
      this.duplicated++;
      this.note('duplicate', { epoch, offset, id });
      return;
    }
    const tail = ranges[ranges.length - 1];
    if (tail && tail[1] + 1 === offset) tail[1] = offset;
    else ranges.push([offset, offset]);
    if (!seg || epoch !== seg.epoch || offset <= seg.start || offset < seg.last) {
      this.outOfOrder++;
      this.note('out of order', { epoch, offset, id, segment: seg && { epoch: seg.epoch, start: seg.start, last: seg.last } });
      return;
    }
    seg.last = offset;
  }

  note(what, detail) {
    if (this.samples.length < SAMPLES) this.samples.push({ what, client: this.client, channel: this.channel, at: new Date(this.ledger.now()).toISOString(), ...detail });
  }

  /** True when this subscriber holds everything acknowledged on its channel (the drain at the end waits for it). */
  caughtUp() {
    const c = this.ledger.channels.get(this.channel);
    const seg = this.cur;
    if (!c || !c.last) return true;
    if (!seg) return false;
    if (seg.epoch === c.last) return seg.last >= c.epochs.get(c.last).top;
    // In an epoch without acknowledged publications: fine if it began after the last acknowledged one.
    return !c.epochs.has(seg.epoch) && seg.at > c.epochs.get(c.last).firstAt;
  }

  /** { lost, covered, lostSamples } from the ledger (at the end of the run). */
  account() {
    const c = this.ledger.channels.get(this.channel);
    const out = { lost: 0, covered: 0, lostSamples: [] };
    if (!c) return out;
    if (!this.segments.length) {
      // Never subscribed: everything acknowledged is owed (it never got a signal either).
      for (const e of c.epochs.values()) out.lost += e.ids.size;
      return out;
    }
    const first = this.segments[0];
    const lastSeg = this.segments[this.segments.length - 1];
    const mine = new Set(this.segments.map((s) => s.epoch));
    for (const [epoch, e] of c.epochs) {
      const sorted = (this.delivered.get(epoch) ?? []).slice().sort((x, y) => x[0] - y[0]);
      const got = (o) => {
        let lo = 0;
        let hi = sorted.length - 1;
        while (lo <= hi) {
          const m = (lo + hi) >> 1;
          if (o < sorted[m][0]) hi = m - 1;
          else if (o > sorted[m][1]) lo = m + 1;
          else return true;
        }
        return false;
      };
      const segs = this.segments.filter((s) => s.epoch === epoch);
      const stale = !mine.has(epoch) && e.firstAt > lastSeg.at;
      const before = !mine.has(epoch) && e.firstAt < first.at;
      for (const [o, id] of e.ids) {
        if (epoch === first.epoch && o <= first.start) continue; // before the first subscribe
        if (before) continue;
        if (got(o)) continue;
        const owed = stale || segs.some((s) => o > s.start && o <= (s === lastSeg ? e.top : s.last));
        if (!owed) {
          out.covered++;
          continue;
        }
        out.lost++;
        if (out.lostSamples.length < SAMPLES) out.lostSamples.push({ what: 'lost', client: this.client, kind: this.kind, channel: this.channel, epoch, offset: o, id, stale });
      }
    }
    return out;
  }
}
