/**
 * The browser bundle of the client SDK (scripts/build-client.mjs): its gzip size stays within the 10 KB budget,
 * and it pulls in nothing of Node (the only import is the lazy `ws`, which never runs where a WebSocket exists).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

const BUDGET = 10 * 1024;

describe('client browser bundle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bundle-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'switchboard.min.js');
  const sizes = JSON.parse(execFileSync(process.execPath, ['scripts/build-client.mjs', '--out', out, '--json'], { encoding: 'utf8' })) as { minified: number; gzip: number };
  const code = readFileSync(out, 'utf8');

  it(`is at most ${BUDGET} bytes gzipped`, () => {
    assert.ok(sizes.gzip <= BUDGET, `gzip size ${sizes.gzip} bytes exceeds the ${BUDGET}-byte budget (minified ${sizes.minified})`);
  });

  it('imports nothing but the lazy ws fallback', () => {
    const imports = [...code.matchAll(/\bimport\s*\(\s*"([^"]+)"\s*\)|\bfrom\s*"([^"]+)"|\brequire\s*\(\s*"([^"]+)"/g)].map((m) => m[1] ?? m[2] ?? m[3]);
    assert.deepEqual(imports, ['ws']);
    assert.doesNotMatch(code, /node:/);
  });

  // Client spans live in the `switchboard/client/otel` entry (about 1.7 KB gzip); the core bundle has only the hook's
  // call sites, so a page without @opentelemetry/api pays nothing for them. These strings exist only in that entry.
  it('holds none of the OpenTelemetry glue of switchboard/client/otel', () => {
    for (const s of ['startSpan', 'switchboard-client', 'receiveSampleRate', 'messaging.operation.type']) {
      assert.ok(!code.includes(s), `the core bundle contains "${s}": something imports src/client/otel*.ts`);
    }
  });

  it('loads as an ES module and exports the factories', async () => {
    const mod = (await import(out)) as Record<string, unknown>;
    assert.equal(typeof mod.createClient, 'function');
    assert.equal(typeof mod.createSseClient, 'function');
    assert.equal(typeof mod.ClientCodes, 'object');
  });
});
