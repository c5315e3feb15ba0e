/**
 * Without chromium (and outside CI) the browser suites are skipped, and the run's summary says how many tests that
 * is: node:test counts nothing inside a skipped `describe`, so browserSuite registers each test as skipped.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('browser suites without a browser', () => {
  it('count as skipped in the summary, one per test, with the reason', async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'CI' && !k.startsWith('NODE_TEST')));
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', 'test/e2e/demo-browser.test.ts'],
        { cwd: ROOT, env: { ...env, CHROMIUM_PATH: '/nonexistent/chromium' }, timeout: 60_000 },
        (err, stdout) => (err ? reject(new Error(`${String(err)}\n${stdout}`)) : resolve(stdout)));
    });
    assert.match(out, /^# tests 5$/m);
    assert.match(out, /^# skipped 5$/m);
    assert.match(out, /^# fail 0$/m);
    assert.equal(out.match(/# SKIP \/nonexistent\/chromium is missing/g)?.length, 5);
  });
});
