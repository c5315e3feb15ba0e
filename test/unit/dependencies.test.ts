/**
 * The layering (GUIDE "Dependencies point one way"): which of our directories may import which, no import cycles
 * (type-only imports count), no OpenTelemetry in the hub, sessions or transports. The rules are written once, in
 * .dependency-cruiser.mjs; this runs them with dependency-cruiser over src/ (`npx depcruise src` prints the same).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** One line per violation: the rule, then file → file (a cycle: every file on it). */
function describeViolation(v: IViolation): string {
  const path = v.cycle && v.cycle.length > 0 ? [v.from, ...v.cycle.map((c) => c.name)] : [v.from, v.to];
  return `${v.rule.name}: ${path.join(' → ')}`;
}

describe('dependency rules (.dependency-cruiser.mjs)', async () => {
  const cwd = process.cwd();
  process.chdir(ROOT); // the rules and the report name files relative to the package root
  let result: ICruiseResult;
  try {
    const options = await extractDepcruiseOptions('./.dependency-cruiser.mjs');
    const reported = await cruise(['src'], options, {}, { tsConfig: extractTSConfig('./tsconfig.json') });
    assert.equal(typeof reported.output, 'object', 'dependency-cruiser returned a report, not a result object');
    result = reported.output as ICruiseResult;
  } finally {
    process.chdir(cwd);
  }

  it('sees the whole source tree', () => {
    // A resolution problem would leave the graph empty and every rule trivially kept.
    const ours = result.modules.filter((m) => m.source.startsWith('src/'));
    const edges = ours.reduce((n, m) => n + m.dependencies.filter((d) => d.resolved.startsWith('src/')).length, 0);
    assert.ok(ours.length >= 100, `only ${ours.length} modules under src/ were read`);
    assert.ok(edges >= 300, `only ${edges} imports between our modules were found`);
  });

  it('has no violations', () => {
    const lines = result.summary.violations.map(describeViolation).sort();
    assert.equal(lines.length, 0, `${lines.length} dependency rule violation(s):\n  ${lines.join('\n  ')}\n(rules: .dependency-cruiser.mjs)`);
  });
});
