/**
 * The package's public surface: what `switchboard` (src/index.ts) exports, values and types, is exactly the list
 * below, so an internal class or the protocol codecs cannot leak into it unnoticed; a Switchboard object shows only
 * its documented members (no `node`); and a name exported by two entries (`switchboard`, `switchboard/protocol`,
 * `switchboard/client`) is one and the same declaration, never two different types under one name (as the broker's
 * and the SDK's `Publication` once were). Adding to the API means adding to these lists on purpose.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import ts from 'typescript';
import * as main from '../../src/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENTRIES = { main: 'src/index.ts', protocol: 'src/protocol/index.ts', client: 'src/client/index.ts' } as const;

const VALUES = ['BrokerOutcomeUnknownError', 'BrokerUnavailableError', 'ConfigError', 'NO_STREAM_EPOCH', 'VERSION', 'createMemoryBroker', 'createRedisBroker', 'createSwitchboard', 'loadConfig'];
const TYPES = [
  'Broker', 'BrokerHandler', 'Config', 'ConfigProblem', 'ControlMessage', 'HistoryBounds', 'HistoryQuery', 'HistoryPage',
  'KeyOp', 'KeyedOptions', 'LoadConfigInput', 'Member', 'MemoryBrokerOptions', 'NodeRegistry', 'NodeReport', 'PublicationMeta',
  'PublishRequest', 'RedisBrokerOptions', 'ServerPublication', 'StatePage', 'StateQuery', 'StreamPosition', 'Switchboard',
  'SwitchboardOptions', 'SwitchboardPublishOptions',
];
const SWITCHBOARD_MEMBERS = ['config', 'disconnectUser', 'history', 'listen', 'presence', 'publish', 'sendToUser', 'server', 'shutdown'];

/** Every exported name of each entry, with the file and position of the declaration it resolves to. */
function exportsOf(): Record<keyof typeof ENTRIES, Map<string, string>> {
  // Every source file as a root, and nothing else: imports between them resolve, while Node's and the dependencies'
  // types (~800 files, 10+ s) are not loaded; names and where they are declared need no more.
  const files = (readdirSync(ROOT + 'src', { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => `${ROOT}src/${f}`);
  const program = ts.createProgram(files, { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, noResolve: true, noLib: true, types: [], noEmit: true });
  const checker = program.getTypeChecker();
  const out = {} as Record<keyof typeof ENTRIES, Map<string, string>>;
  for (const [entry, file] of Object.entries(ENTRIES) as [keyof typeof ENTRIES, string][]) {
    const source = program.getSourceFile(ROOT + file);
    assert.ok(source, file);
    const moduleSymbol = checker.getSymbolAtLocation(source);
    assert.ok(moduleSymbol, `${file} is a module`);
    const names = new Map<string, string>();
    for (const sym of checker.getExportsOfModule(moduleSymbol)) {
      const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
      const decl = target.declarations?.[0];
      names.set(sym.name, decl ? `${decl.getSourceFile().fileName.slice(ROOT.length)}:${decl.pos}` : '?');
    }
    out[entry] = names;
  }
  return out;
}

describe('public exports', () => {
  it('the main entry exports exactly the documented values at run time', () => {
    assert.deepEqual(Object.keys(main).sort(), [...VALUES].sort());
  });

  const entries = exportsOf();

  it('the main entry exports exactly the documented values and types', () => {
    assert.deepEqual([...entries.main.keys()].sort(), [...VALUES, ...TYPES].sort());
  });

  it('nothing exported by the main entry is declared in an internal module other than the ones meant to be public', () => {
    const allowed = /^src\/(index|server|config\/(index|load|errors|schema)|broker\/(broker|memory|redis)|protocol\/(frames|position))\.ts:/;
    for (const [name, where] of entries.main) assert.match(where, allowed, `${name} comes from ${where}`);
  });

  it('a name exported by two entries is the same declaration in both', () => {
    const list = Object.entries(entries) as [string, Map<string, string>][];
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const [a, am] = list[i]!;
        const [b, bm] = list[j]!;
        for (const [name, where] of am) {
          if (bm.has(name)) assert.equal(bm.get(name), where, `"${name}" names different declarations in ${a} and ${b}`);
        }
      }
    }
  });

  it('a Switchboard shows only its documented members (no internal node)', async () => {
    const sb = main.createSwitchboard({ config: { port: 0, demo: { enabled: false } } });
    try {
      assert.deepEqual(Object.keys(sb).sort(), SWITCHBOARD_MEMBERS);
      assert.equal('node' in sb, false);
    } finally {
      await sb.shutdown();
    }
  });
});
