/**
 * Builds the single executable `dist/exe/switchboard` (`npm run build:exe`, after `npm run build`): Node's
 * single-executable applications (SEA). Steps:
 *   1. esbuild bundles src/cli/sea.ts and everything it imports into one CommonJS file (SEA runs one script, and its
 *      require() loads built-in modules only). `import.meta.url` becomes each source file's own URL and package.json's
 *      version is inlined, so nothing is read from beside the executable.
 *   2. The demo page (dist/web), the SDK bundle (dist/client/switchboard.min.js) and the Grafana dashboard
 *      (deploy/grafana/switchboard.json) become SEA assets (Node >= 20.12), listed in a `manifest.json` asset; the
 *      server reads them through src/http/embedded.ts.
 *   3. `node --experimental-sea-config` writes the blob; a copy of this `node` binary gets it injected with postject.
 * The result runs with no Node install and no node_modules, on the same OS and CPU architecture as the machine that
 * built it (Linux x64 here). `--out <file>`: write the executable there. `--json`: print size and timings as JSON.
 */
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const EXE = join(root, 'dist/exe/switchboard');
/** Node's fixed SEA fuse string, searched for in the binary by postject (docs: single-executable-applications). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** `import.meta.url` of the bundled modules: file:///switchboard-exe/src/... */
const VIRTUAL_ROOT = 'file:///switchboard-exe/';

/** Embedded files: SEA asset name → file. The names are what src/http/embedded.ts readers ask for. */
function assets() {
  const web = join(root, 'dist/web');
  const sdk = join(root, 'dist/client/switchboard.min.js');
  if (!existsSync(join(web, 'index.html')) || !existsSync(sdk)) throw new Error('dist/web or the SDK bundle is missing: run "npm run build" first');
  const out = {};
  for (const f of readdirSync(web, { recursive: true })) {
    if (statSync(join(web, f)).isFile()) out[`web/${f.split('\\').join('/')}`] = join(web, f);
  }
  out['client/switchboard.min.js'] = sdk;
  out['deploy/grafana/switchboard.json'] = join(root, 'deploy/grafana/switchboard.json');
  return out;
}

/** Rewrites what ties a module to its place on disk, for the bundle only (the sources keep working with tsc and tsx). */
function seaPlugin(version) {
  const pkgRequire = /createRequire\(import\.meta\.url\)\((['"])(?:\.\.\/)+package\.json\1\)/g;
  return {
    name: 'switchboard-sea',
    setup(b) {
      b.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, (args) => {
        let text = readFileSync(args.path, 'utf8');
        text = text.replace(pkgRequire, JSON.stringify({ version }));
        // Each module keeps its own URL (a shared one would make every "am I the main module?" check true), under a
        // root that exists nowhere: the executable never reads files of the machine that built it.
        text = text.replaceAll('import.meta.url', JSON.stringify(`${VIRTUAL_ROOT}${relative(root, args.path).split('\\').join('/')}`));
        return { contents: text, loader: 'ts' };
      });
      // ws tries these optional native add-ons inside try/catch; an executable has none, so the require must throw
      // (a plain missing module would reach SEA's require(), which warns that it loads built-ins only).
      b.onResolve({ filter: /^(bufferutil|utf-8-validate)$/ }, (args) => ({ path: args.path, namespace: 'absent' }));
      b.onLoad({ filter: /.*/, namespace: 'absent' }, (args) => ({ contents: `throw new Error(${JSON.stringify(`${args.path} is not in the executable`)});`, loader: 'js' }));
    },
  };
}

export async function buildExe({ out = EXE } = {}) {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 12)) throw new Error(`SEA assets need Node >= 20.12 (this is ${process.version})`);
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  const work = join(dirname(out), `.sea-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const t0 = Date.now();
  try {
    const bundle = join(work, 'switchboard.cjs');
    const result = await build({
      entryPoints: [join(root, 'src/cli/sea.ts')],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: `node${major}`,
      minify: true,
      legalComments: 'none',
      plugins: [seaPlugin(version)],
      logLevel: 'warning',
    });
    if (result.errors.length) throw new Error('esbuild failed');
    const code = readFileSync(bundle, 'utf8');
    if (/package\.json/.test(code.match(/require\([^)]*\)/g)?.join() ?? '')) throw new Error('the bundle still requires a package.json');
    const files = assets();
    const manifest = join(work, 'manifest.json');
    writeFileSync(manifest, JSON.stringify(Object.keys(files)));
    const config = join(work, 'sea-config.json');
    const blob = join(work, 'sea.blob');
    writeFileSync(config, JSON.stringify({
      main: bundle,
      output: blob,
      disableExperimentalSEAWarning: true,
      // V8's compile cache of the bundle, made at build time: the executable starts without parsing it all again.
      useCodeCache: true,
      assets: { 'manifest.json': manifest, ...files },
    }));
    const sea = spawnSync(process.execPath, ['--experimental-sea-config', config], { encoding: 'utf8' });
    if (sea.status !== 0) throw new Error(`node --experimental-sea-config failed:\n${sea.stdout}${sea.stderr}`);
    const tBlob = Date.now();
    const exe = join(work, 'switchboard');
    copyFileSync(process.execPath, exe);
    chmodSync(exe, 0o755);
    // postject: a devDependency (the one tool Node documents for injecting the blob into its binary).
    const { inject } = createRequire(import.meta.url)('postject');
    // postject prints harmless "Can't find string offset for section name" warnings on some ELF builds: muted.
    const write = process.stderr.write;
    process.stderr.write = () => true;
    try {
      await inject(exe, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE });
    } finally {
      process.stderr.write = write;
    }
    mkdirSync(dirname(out), { recursive: true });
    rmSync(out, { force: true });
    copyFileSync(exe, out);
    chmodSync(out, 0o755);
    return {
      out,
      bytes: statSync(out).size,
      bundleBytes: code.length,
      assets: Object.keys(files).length,
      bundleMs: tBlob - t0,
      totalMs: Date.now() - t0,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const out = args.includes('--out') ? args[args.indexOf('--out') + 1] : undefined;
  const r = await buildExe({ out });
  if (args.includes('--json')) console.log(JSON.stringify(r));
  else {
    console.log(`single executable ${relative(process.cwd(), r.out) || r.out}: ${(r.bytes / 1e6).toFixed(1)} MB (the node binary plus a ${(r.bundleBytes / 1e6).toFixed(1)} MB bundle and ${r.assets} embedded files), built in ${(r.totalMs / 1000).toFixed(1)} s`);
  }
}
