/**
 * Which of our directories may import which: the layering of docs/architecture (GUIDE "Dependencies point one
 * way"), written once here and checked by test/unit/dependencies.test.ts in `npm test` (`npx depcruise src` shows
 * the same). Type-only imports count: a cycle through types is still a design bug.
 *
 *   protocol, core, http            the bottom: import nothing else of ours
 *   config                          <- protocol, core
 *   broker, hub, auth, observability, delivery   <- the layers above (the hub may use delivery's encode-once)
 *   session                         <- all of the above, never a transport
 *   transport                       <- all of the above and session, never the node class (it gets a host port)
 *   api, demo                       HTTP edges: never a transport or a session
 *   client (the SDK)                <- protocol only
 *
 * node.ts, server.ts, index.ts, cli/ and listener/ wire everything and may import any layer.
 */

/** Each layer's directory under src/ and the directories it may import besides itself. */
const LAYERS = {
  protocol: [],
  core: [],
  http: [],
  config: ['protocol', 'core'],
  broker: ['protocol', 'core', 'config'],
  hub: ['protocol', 'core', 'config', 'delivery'],
  auth: ['protocol', 'core', 'config'],
  observability: ['protocol', 'core', 'config'],
  delivery: ['protocol', 'core', 'config'],
  session: ['protocol', 'core', 'config', 'broker', 'hub', 'auth', 'observability', 'delivery'],
  transport: ['protocol', 'core', 'http', 'config', 'broker', 'hub', 'auth', 'observability', 'delivery', 'session'],
  api: ['protocol', 'core', 'http', 'config', 'broker', 'hub', 'auth', 'observability', 'delivery', 'node.ts'],
  demo: ['protocol', 'core', 'http', 'config', 'observability'],
  client: ['protocol'],
};

const any = (names) => `^src/(${names.map((n) => n.replace('.', '\\.')).join('|')})(/|$)`;

const layerRules = Object.entries(LAYERS).map(([layer, allowed]) => ({
  name: `layer-${layer}`,
  comment: allowed.length === 0
    ? `src/${layer}/ is at the bottom: it imports nothing else of ours`
    : `src/${layer}/ may import only ${allowed.join(', ')}`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: '^src/', pathNot: any([layer, ...allowed]) },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      comment: 'a cycle is a design bug, through type-only imports too',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-otel-in-hot-path',
      comment: 'hub, session and transport see telemetry through ports; OpenTelemetry lives in observability/',
      severity: 'error',
      from: { path: '^src/(hub|session|transport)/' },
      to: { path: '(^|/)node_modules/@opentelemetry/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'an import that does not resolve cannot be checked',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Type-only imports are edges too: `import type` still ties one layer's code to another's.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^(src/|node_modules/@opentelemetry/)',
  },
};
