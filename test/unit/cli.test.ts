import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { configOptions } from '../../src/config/index.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'switchboard-cli-'));
// The host's SWITCHBOARD_* variables must not leak into the child: unknown ones are errors.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SWITCHBOARD_') && k !== 'PORT' && k !== 'LOG_LEVEL'));

/** Runs the real entry point as a child process, like a user would. */
function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, env, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('switchboard CLI', () => {
  it('--help lists commands, main flags, env variables and the docs; exit 0', () => {
    for (const flag of ['--help', '-h']) {
      const r = cli(flag);
      assert.equal(r.code, 0);
      for (const text of ['serve', 'check-config', '--config <file>', '--port', '--log-level', 'SWITCHBOARD_CONFIG',
        'SWITCHBOARD_<OPTION>', 'PORT, LOG_LEVEL', 'docs/configuration.md']) assert.ok(r.stdout.includes(text), text);
    }
  });
  it('no command prints the help to stderr with exit 2', () => {
    const r = cli();
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Commands:/);
  });
  it('serve --help lists every option', () => {
    const r = cli('serve', '--help');
    assert.equal(r.code, 0);
    for (const o of configOptions) assert.ok(r.stdout.includes(o.flag) && r.stdout.includes(o.env), o.path);
  });
  it('--version prints the package version', () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    const r = cli('--version');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${version}\n`);
  });
  it('an unknown command exits 2 with a suggestion', () => {
    const r = cli('sevre');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "sevre"\. Did you mean "serve"\?/);
    assert.equal(cli('--port', '1').code, 2);
  });
  it('check-config prints ok for a valid file', () => {
    const f = join(dir, 'good.yaml');
    writeFileSync(f, 'port: 9000\nhistory:\n  ttl: 10m\n');
    const r = cli('check-config', f);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'ok\n', '']);
  });
  it('check-config prints the ConfigError without a stack; exit 2', () => {
    const f = join(dir, 'bad.json');
    writeFileSync(f, '{"history": {"size": -1}, "hostt": "x"}');
    const r = cli('check-config', f);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /config option "history.size" \(from file .*bad\.json\): expected an integer >= 0, got -1\. Fix:/);
    assert.match(r.stderr, /"hostt".*rename it to "host"/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(cli('check-config').code, 2);
  });
  it('serve stops with exit 2 on a bad option before starting anything', () => {
    const r = cli('serve', '--port', 'eighty');
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'config option "port" (from flag --port): expected an integer from 0 to 65535, got "eighty". Fix: set it to a whole number such as 8080.\n');
  });
  it('serve listens, and exits 0 after SIGTERM', { timeout: 30_000 }, async (t) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0', '--log-level', 'info'],
      { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    const exited = once(child, 'exit');
    // Keep reading stdout to the end: closing the pipe early would make the server's shutdown logs fail with EPIPE.
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => { out += String(chunk); if (out.includes('listening')) resolve(); });
      child.once('exit', (code) => reject(new Error(`serve exited with ${code} before listening: ${out}`)));
    });
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0);
  });
});
