/**
 * Builds the demo page (web/demo) into dist/web, served by the server at `/` (src/demo/page.ts): app.ts with the SDK
 * bundled in (esbuild, ESM, minified, content-hashed names), styles.css, favicon.svg, and index.html pointing at the
 * hashed files. The admin console (web/admin) is built the same way into dist/web/admin, served at `/admin`
 * (src/admin/console.ts). Nothing is loaded from elsewhere at run time (no CDN, no web fonts). Type-checks web/ first
 * (web/tsconfig.json, DOM types) unless `--no-check`; prints each file's size minified and gzipped (`--quiet`:
 * nothing, `--json`: as JSON).
 */
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const WEB_OUT = join(root, 'dist/web');
/** Each page: its sources, its directory under dist/web, and the URL prefix of its assets. */
const PAGES = [
  { name: 'demo page', src: join(root, 'web/demo'), sub: '', prefix: '/demo/' },
  { name: 'admin console', src: join(root, 'web/admin'), sub: 'admin', prefix: '/admin/' },
];

export async function buildWeb({ outdir = WEB_OUT, check = true } = {}) {
  if (check) {
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'web/tsconfig.json')], { encoding: 'utf8' });
    if (tsc.status !== 0) throw new Error(`web/ does not type-check:\n${tsc.stdout}${tsc.stderr}`);
  }
  // Built beside the target and swapped in at the end: a failed build leaves the previous one in place, and old
  // hashed files do not pile up. (A running server read the directory at start-up and is not affected.)
  const final = outdir;
  outdir = `${final}.tmp-${process.pid}`;
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  let built;
  try {
    built = [];
    for (const page of PAGES) built.push(await buildPage(page, join(outdir, page.sub)));
  } catch (err) {
    rmSync(outdir, { recursive: true, force: true });
    throw err;
  }
  rmSync(final, { recursive: true, force: true });
  renameSync(outdir, final);
  outdir = final;
  const sizes = (page, list) => list.map((f) => {
    const name = page.sub ? `${page.sub}/${f}` : f;
    const bytes = readFileSync(join(outdir, name));
    return { name, bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
  const [demo, admin] = built;
  const files = sizes(PAGES[0], ['index.html', demo.script, demo.styles, 'favicon.svg']);
  const adminFiles = sizes(PAGES[1], ['index.html', admin.script, admin.styles, 'favicon.svg']);
  return {
    outdir, script: demo.script, styles: demo.styles, files, total: { bytes: sum(files, 'bytes'), gzip: sum(files, 'gzip') },
    admin: { script: admin.script, styles: admin.styles, files: adminFiles, total: { bytes: sum(adminFiles, 'bytes'), gzip: sum(adminFiles, 'gzip') } },
  };
}

/** One page into `dir`: app.ts and styles.css bundled with hashed names, index.html pointing at them, the favicon. */
async function buildPage(page, dir) {
  mkdirSync(dir, { recursive: true });
  const result = await build({
    entryPoints: [join(page.src, 'app.ts'), join(page.src, 'styles.css')],
    outdir: dir,
    entryNames: '[name]-[hash]',
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    metafile: true,
    // The SDK loads `ws` lazily in Node 20 only; browsers have a global WebSocket.
    external: ['ws'],
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const script = outputs.find((f) => f.startsWith('app-') && f.endsWith('.js'));
  const styles = outputs.find((f) => f.startsWith('styles-') && f.endsWith('.css'));
  if (!script || !styles) throw new Error(`esbuild did not write app-*.js and styles-*.css for the ${page.name} (got ${outputs.join(', ')})`);
  const html = readFileSync(join(page.src, 'index.html'), 'utf8').replace('{{script}}', page.prefix + script).replace('{{styles}}', page.prefix + styles);
  if (html.includes('{{')) throw new Error(`${page.src}/index.html has a placeholder left`);
  writeFileSync(join(dir, 'index.html'), html);
  copyFileSync(join(page.src, 'favicon.svg'), join(dir, 'favicon.svg'));
  return { script, styles };
}

const sum = (files, k) => files.reduce((n, f) => n + f[k], 0);

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const r = await buildWeb({ check: !args.includes('--no-check') });
  if (args.includes('--json')) console.log(JSON.stringify(r));
  else if (!args.includes('--quiet')) {
    for (const f of r.files) console.log(`demo page dist/web/${f.name}: ${f.bytes} bytes, ${f.gzip} bytes gzip`);
    console.log(`demo page total: ${r.total.bytes} bytes, ${r.total.gzip} bytes gzip (the SDK is bundled into ${r.script})`);
    console.log(`admin console total (dist/web/admin): ${r.admin.total.bytes} bytes, ${r.admin.total.gzip} bytes gzip`);
  }
}
