/**
 * `npm start` builds only what changed (scripts/build-if-stale.mjs), shown on a small project of the same shape:
 * real tsc, stand-ins for the two esbuild scripts that count their runs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = join(ROOT, 'scripts/build-if-stale.mjs');

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-stale-'));
  const write = (path: string, text: string) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  write('package.json', '{"type":"module"}\n');
  write('tsconfig.json', JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', outDir: 'dist', rootDir: 'src', types: [] }, include: ['src/**/*.ts'] }));
  write('src/cli/main.ts', 'export const main = 1;\n');
  write('src/client/index.ts', 'export const client = 1;\n');
  write('web/demo/index.html', '<!doctype html>\n');
  // Stand-ins for the esbuild steps: write the output and count the runs.
  for (const [script, out] of [['build-client.mjs', 'dist/client/switchboard.min.js'], ['build-web.mjs', 'dist/web/index.html']]) {
    write(`scripts/${script}`, `import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
mkdirSync('${out.slice(0, out.lastIndexOf('/'))}', { recursive: true });
writeFileSync('${out}', 'x');
appendFileSync('runs.log', '${script}\\n');
`);
  }
  return dir;
}

/** Runs the script on `dir`; returns the step names it built. */
function build(dir: string): string[] {
  const out = execFileSync(process.execPath, [SCRIPT, '--root', dir], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return [...out.matchAll(/^building: (.+) \(/gm)].map((m) => m[1]);
}

/** Sets a file's mtime to now, as an editor's save does (after the last build ended, so newer than its stamp). */
function touch(dir: string, path: string): void {
  const t = new Date();
  utimesSync(join(dir, path), t, t);
}

describe('npm start builds only what changed', () => {
  it('builds everything once, then nothing until an input changes, then only the steps that read it', () => {
    const dir = project();
    try {
      assert.deepEqual(build(dir), ['typescript', 'sdk bundle', 'demo page']);
      assert.equal(readFileSync(join(dir, 'dist/cli/main.js'), 'utf8').includes('main = 1'), true);
      assert.deepEqual(build(dir), [], 'nothing changed: nothing is built');
      rmSync(join(dir, 'dist/.build'), { recursive: true });
      assert.deepEqual(build(dir), [], 'outputs newer than their inputs (npm run build) are current without stamps');
      touch(dir, 'web/demo/index.html');
      assert.deepEqual(build(dir), ['demo page']);
      touch(dir, 'src/cli/main.ts');
      assert.deepEqual(build(dir), ['typescript']);
      touch(dir, 'src/client/index.ts');
      assert.deepEqual(build(dir), ['typescript', 'sdk bundle', 'demo page']);
      rmSync(join(dir, 'dist/client/switchboard.min.js'));
      assert.deepEqual(build(dir), ['sdk bundle'], 'a missing output is rebuilt');
      assert.deepEqual(build(dir), []);
      assert.deepEqual(readFileSync(join(dir, 'runs.log'), 'utf8').trim().split('\n'),
        ['build-client.mjs', 'build-web.mjs', 'build-web.mjs', 'build-client.mjs', 'build-web.mjs', 'build-client.mjs']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a failed step fails the start and runs again next time', () => {
    const dir = project();
    try {
      build(dir);
      writeFileSync(join(dir, 'src/cli/main.ts'), 'export const main: number = "not a number";\n');
      touch(dir, 'src/cli/main.ts');
      assert.throws(() => build(dir), (err: Error & { stdout?: string }) => /error TS2322/.test(String(err.stdout)));
      writeFileSync(join(dir, 'src/cli/main.ts'), 'export const main = 2;\n');
      touch(dir, 'src/cli/main.ts');
      assert.deepEqual(build(dir), ['typescript']);
      assert.match(readFileSync(join(dir, 'dist/cli/main.js'), 'utf8'), /main = 2/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
