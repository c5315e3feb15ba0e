/**
 * The package check (CI, after `npm test`): what `npm pack` makes of this checkout works when installed as a user
 * installs it. Packs (the `prepare` script builds dist/), checks the tarball's file list (built code, types, CLI,
 * SDK bundle, demo page, dashboard; no sources, tests or source maps), installs it into an empty folder (its
 * dependencies come from the npm registry), then:
 *   - `npx switchboard --help`, `dashboard` (the Grafana dashboard), and `npx switchboard serve` on a free port (demo
 *     page, SDK bundle, /metrics answer);
 *   - `switchboard subscribe` and `switchboard publish` with the installed CLI, over WebSocket and SSE;
 *   - the README's "Embed it" snippet (between its embed markers), type-checked with TypeScript against the installed
 *     package's types, then run: the app answers and the snippet's publication is in the channel's history;
 *   - a custom broker written from the public exports only (package-check/custom-broker.ts), type-checked and run;
 *   - `switchboard/client` and `switchboard/protocol` import.
 * Everything is bounded in time; children are killed and the temp folder removed at the end. Takes ~1 min.
 * `--tarball <file>`: check that tarball instead of packing.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { check, cleanup, freePort, get, publishAndSubscribe, run, start, startServer, step, tempDir, waitFor } from './lib/smoke.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
/** The whole check; past it everything is killed. */
const DEADLINE_MS = 6 * 60_000;

/** Files a user needs; each must be in the tarball. */
const REQUIRED = [
  'package.json', 'README.md',
  'dist/index.js', 'dist/index.d.ts', 'dist/server.js', 'dist/cli/main.js',
  'dist/protocol/index.js', 'dist/protocol/index.d.ts',
  'dist/client/index.js', 'dist/client/index.d.ts', 'dist/client/otel.js', 'dist/client/otel.d.ts',
  'dist/client/switchboard.min.js', 'dist/web/index.html',
  'deploy/grafana/switchboard.json', 'docs/configuration.md',
];
/** Nothing of these belongs in the package. */
const FORBIDDEN = [
  /^src\//, /^test\//, /^bench\//, /^scripts\//, /^web\//, /^\.ci\//, /\.map$/, /^node_modules\//, /\.test\./, /^tsconfig/,
  /^dist\/exe\//, /^dist\/cli\/sea/, // the single executable and its entry (npm run build:exe)
];
/** A package larger than this has picked up something it should not (it is ~300 KB). */
const MAX_TARBALL_BYTES = 1_000_000;

async function main() {
  const dir = tempDir('sb-package-');
  const args = process.argv.slice(2);
  let tarball;
  let files;
  if (args.includes('--tarball')) {
    tarball = args[args.indexOf('--tarball') + 1];
    step(`checking ${tarball}`);
    files = (await run('tar', ['-tzf', tarball])).stdout.trim().split('\n').map((f) => f.replace(/^package\//, ''));
  } else {
    // A clean checkout: the files git knows (tracked, or new and not ignored), so no dist/ and nothing stale in it;
    // node_modules is linked, as `npm ci` would have filled it.
    step('copy of the checkout without ignored files');
    const checkout = join(dir, 'checkout');
    const listed = (await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root })).stdout.split('\0').filter(Boolean);
    for (const f of listed) {
      if (!existsSync(join(root, f))) continue; // deleted in the work tree, not yet in the index
      mkdirSync(dirname(join(checkout, f)), { recursive: true });
      copyFileSync(join(root, f), join(checkout, f));
    }
    symlinkSync(join(root, 'node_modules'), join(checkout, 'node_modules'));
    check(!existsSync(join(checkout, 'dist')), 'the copy has a dist/');
    step('npm pack (prepare builds dist/)');
    const packed = await run(npm, ['pack', '--json', '--pack-destination', dir], { cwd: checkout, timeoutMs: 4 * 60_000 });
    // Lifecycle scripts print to the same stdout: the JSON is the last thing.
    const json = /^\[\s*\{[\s\S]*$/m.exec(packed.stdout);
    check(json, `npm pack printed no JSON:\n${packed.stdout}`);
    const info = JSON.parse(json[0])[0];
    tarball = join(dir, info.filename);
    files = info.files.map((f) => f.path);
    step(`${info.filename}: ${files.length} files, ${info.size} bytes packed, ${info.unpackedSize} unpacked`);
    check(info.size <= MAX_TARBALL_BYTES, `the tarball is ${info.size} bytes (more than ${MAX_TARBALL_BYTES}): what did it pick up?`);
  }
  const missing = REQUIRED.filter((f) => !files.includes(f));
  check(missing.length === 0, `the tarball lacks ${missing.join(', ')}`);
  const extra = files.filter((f) => FORBIDDEN.some((re) => re.test(f)));
  check(extra.length === 0, `the tarball holds files it should not: ${extra.slice(0, 20).join(', ')}`);

  step('npm install <tarball> into an empty folder');
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'sb-package-check', private: true, type: 'module' }));
  await run(npm, ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: app, timeoutMs: 3 * 60_000 });
  const installed = join(app, 'node_modules/switchboard');
  check(readFileSync(join(installed, 'dist/cli/main.js'), 'utf8').startsWith('#!/usr/bin/env node\n'), 'dist/cli/main.js has no shebang');

  // --no: never download a package of that name from the registry; -- so that --help reaches switchboard, not npx.
  const cli = [npx, '--no', '--', 'switchboard'];
  step('npx switchboard --help, dashboard');
  const help = await run(cli[0], [...cli.slice(1), '--help'], { cwd: app });
  check(/serve/.test(help.stdout) && /publish/.test(help.stdout), `--help printed:\n${help.stdout}`);

  const dashboard = JSON.parse((await run(cli[0], [...cli.slice(1), 'dashboard'], { cwd: app })).stdout);
  check(Array.isArray(dashboard.panels) && dashboard.panels.length > 0, 'switchboard dashboard printed no panels');

  step('npx switchboard serve');
  const { server, url } = await startServer(cli, { cwd: app });
  const page = await get(`${url}/`);
  check(page.status === 200 && page.type.startsWith('text/html'), `GET / answered ${page.status} ${page.type}: the demo page is not in the package`);
  const sdk = await get(`${url}/switchboard.min.js`);
  check(sdk.status === 200 && /createClient/.test(sdk.text), `GET /switchboard.min.js answered ${sdk.status}`);
  const metrics = await get(`${url}/metrics`);
  check(metrics.status === 200 && /switchboard_/.test(metrics.text), `GET /metrics answered ${metrics.status}`);

  step('switchboard subscribe + publish (WebSocket, then SSE)');
  await publishAndSubscribe(cli, url, { cwd: app });
  await publishAndSubscribe(cli, url, { cwd: app, sse: true });
  await server.stop();

  step('switchboard/client and switchboard/protocol import');
  await run(process.execPath, ['--input-type=module', '-e', [
    "const c = await import('switchboard/client'); const p = await import('switchboard/protocol');",
    "if (typeof c.createClient !== 'function' || typeof p.parsePosition !== 'function') process.exit(1);",
  ].join('\n')], { cwd: app });

  await embedSnippet(app);
  step('package check passed');
}

/** README's "Embed it", type-checked against the installed types, then run on a free port instead of 3000. */
async function embedSnippet(app) {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = /<!-- embed:start -->\s*```js\n([\s\S]*?)```\s*<!-- embed:end -->/.exec(readme);
  check(block, 'README.md has no "Embed it" block between <!-- embed:start --> and <!-- embed:end -->');
  const code = block[1];
  check(/\b3000\b/.test(code) && /from 'switchboard'/.test(code), 'the Embed it snippet no longer imports switchboard and listens on 3000');

  step("tsc on README's Embed it snippet and a custom broker (scripts/package-check/custom-broker.ts)");
  writeFileSync(join(app, 'embed.ts'), code);
  copyFileSync(join(root, 'scripts/package-check/custom-broker.ts'), join(app, 'custom-broker.ts'));
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, outDir: 'out',
      // @types/node from this repository (a user's app has its own).
      typeRoots: [join(root, 'node_modules/@types')], types: ['node'],
    },
    files: ['embed.ts', 'custom-broker.ts'],
  }));
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  await run(process.execPath, [tsc, '-p', join(app, 'tsconfig.json')], { cwd: app, timeoutMs: 120_000 });
  step('node: the custom broker, built from the public exports, serves a Switchboard');
  await run(process.execPath, [join(app, 'out/custom-broker.js')], { cwd: app, timeoutMs: 30_000 });

  step("node: README's Embed it snippet");
  const port = await freePort();
  writeFileSync(join(app, 'embed.mjs'), code.replace(/\b3000\b/, String(port)));
  const snippet = start(process.execPath, ['embed.mjs'], { cwd: app });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`the embedding app on ${base} (output: ${snippet.out.stdout}${snippet.out.stderr})`, async () => {
    if (snippet.child.exitCode !== null) throw new Error(`embed.mjs exited with ${snippet.child.exitCode}: ${snippet.out.stderr}`);
    return (await get(`${base}/`)).text === 'my app';
  });
  const history = await waitFor('the snippet\'s publication in history', async () => {
    const h = await get(`${base}/api/history?channel=news`);
    return h.status === 200 && /"title":"Hello"|\\"title\\":\\"Hello\\"/.test(h.text) ? h : undefined;
  }, 10_000);
  check(history, 'no history');
  await snippet.stop();
}

const deadline = setTimeout(() => {
  process.stderr.write(`package check: still running after ${DEADLINE_MS / 1000} s; stopping\n`);
  cleanup();
  process.exit(1);
}, DEADLINE_MS);
deadline.unref();

main().then(
  () => {
    cleanup();
    process.exit(0);
  },
  (err) => {
    process.stderr.write(`package check FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
    cleanup();
    process.exit(1);
  },
);
