// The summary of a chaos run: a table per subscriber kind, the faults, peak RSS per process, a few samples of every
// failure (the evidence to start from), and one JSON line (`CHAOS_RESULT {...}`) for scripts. Returns true when
// nothing was lost, duplicated, out of order or mismatched and no position was acknowledged twice.
const MB = 1024 * 1024;

export function printReport({ o, ctx, peaks, publishSeconds, drainSeconds, drained, totalSeconds }) {
  const kinds = ['sdk-ws', 'sdk-sse', 'raw-ws', 'raw-sse'];
  const zero = () => ({ subscriptions: 0, delivered: 0, lost: 0, duplicated: 0, out_of_order: 0, mismatched: 0, resets: 0, covered: 0 });
  const rows = Object.fromEntries(kinds.map((k) => [k, zero()]));
  const reasons = {};
  const samples = [];
  for (const s of ctx.streams) {
    const a = s.account();
    const r = rows[s.kind];
    r.subscriptions++;
    r.delivered += s.count;
    r.lost += a.lost;
    r.duplicated += s.duplicated;
    r.out_of_order += s.outOfOrder;
    r.mismatched += s.mismatched;
    r.resets += s.resets;
    r.covered += a.covered;
    for (const [k, v] of Object.entries(s.reasons)) reasons[k] = (reasons[k] ?? 0) + v;
    samples.push(...a.lostSamples, ...s.samples);
  }
  const total = zero();
  for (const r of Object.values(rows)) for (const k of Object.keys(total)) total[k] += r[k];

  const cols = ['subscriptions', 'delivered', 'lost', 'duplicated', 'out_of_order', 'mismatched', 'resets', 'covered'];
  console.log('\n| subscriber | ' + cols.join(' | ') + ' |');
  console.log('|---|' + cols.map(() => '---:').join('|') + '|');
  for (const [k, r] of [...Object.entries(rows), ['total', total]]) console.log(`| ${k} | ` + cols.map((c) => r[c]).join(' | ') + ' |');

  const { ledger, stats } = ctx;
  console.log(`\nacknowledged ${ledger.acked}, publish failures ${ledger.failed} ${JSON.stringify(stats.publishErrors)}, position conflicts ${ledger.conflicts}`);
  console.log(`resets by reason ${JSON.stringify(reasons)}; raw-client gaps healed by resuming ${stats.clientGaps}; refused subscribes ${stats.subscribeErrors}; ` +
    `publications before their subscribe result ${stats.early}; bad_last_event_id ${stats.badLastEventId}`);
  console.log(`publish → acknowledgement ${JSON.stringify(ctx.ack.summary())}`);
  console.log(`publish → delivery ${JSON.stringify(ctx.delivery.summary())}`);
  console.log(`faults ${JSON.stringify(stats.faults)}: ${stats.faultLog.map((f) => `${f.kind}@${f.at}s`).join(', ')}`);
  console.log('peak RSS (VmHWM): ' + Object.entries(peaks).map(([k, v]) => `${k} ${(v / MB).toFixed(1)} MB`).join(', '));
  console.log(`publishing ${publishSeconds.toFixed(0)} s, drain ${drainSeconds.toFixed(1)} s${drained ? '' : ' (timed out)'}, total ${totalSeconds.toFixed(0)} s, seed ${o.seed}`);
  const failures = [...samples, ...ledger.conflictSamples.map((c) => ({ what: 'position conflict', ...c }))];
  if (failures.length) {
    console.log('\nfirst failures (max 10 per subscription):');
    for (const f of failures.slice(0, 40)) console.log('  ' + JSON.stringify(f));
  }
  const result = {
    seed: o.seed,
    acknowledged: ledger.acked,
    publish_failures: ledger.failed,
    delivered: total.delivered,
    lost: total.lost,
    duplicated: total.duplicated,
    out_of_order: total.out_of_order,
    mismatched: total.mismatched,
    position_conflicts: ledger.conflicts,
    resets: total.resets,
    reset_covered: total.covered,
    reset_reasons: reasons,
    client_gaps: stats.clientGaps,
    early: stats.early,
    faults: stats.faults,
    ack_latency: ctx.ack.summary(),
    delivery_latency: ctx.delivery.summary(),
    peak_rss_mb: Object.fromEntries(Object.entries(peaks).map(([k, v]) => [k, Math.round((v / MB) * 10) / 10])),
    publish_seconds: Math.round(publishSeconds),
    duration_seconds: Math.round(totalSeconds),
    drained,
  };
  console.log('\nCHAOS_RESULT ' + JSON.stringify(result));
  const ok = total.lost === 0 && total.duplicated === 0 && total.out_of_order === 0 && total.mismatched === 0 && ledger.conflicts === 0;
  console.log(ok ? 'chaos: PASS' : 'chaos: FAIL (lost, duplicated, out of order, mismatched or conflicting positions above)');
  return ok;
}
