/**
 * Which of our directories may import which: the layering of the GUIDE ("Dependencies point one way"), written
 * once here and checked by test/unit/dependencies.test.ts in `npm test` (`npx depcruise src` prints the same).
 * Type-only imports count: a cycle through types is still a design bug.
 *
 *   protocol, core, http            the bottom: import nothing else of ours
 *   config                          <- protocol, core
 *   broker, hub, auth, observability, delivery   <- the layers above (the hub may use delivery's encode-once)
 *   session                         <- all of the above, never a transport
 *   transport                       <- all of the above and session, never the node class (it gets a host port)
 *   api, demo, admin                HTTP edges: never a transport or a session
 *   webhooks                        <- the node's lifecycle port (node/events.ts), broker's deadline, observability
 *   client (the SDK)                <- protocol only
 *
 * One exception, by design: observability/ may name (type-only) the ports it implements, which the layers using
 * them define (hub's DeliverySampler, session's ConnectionTelemetry, broker's publish types). It may not call
 * into those layers. node.ts, node/, server.ts, index.ts, wiring/, cli/ and listener/ wire everything and may
 * import any layer.
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
  api: ['protocol', 'core', 'http', 'config', 'broker', 'hub', 'auth', 'observability', 'delivery', 'node.ts', 'node'],
  demo: ['protocol', 'core', 'http', 'config', 'observability'],
  // The operator console: an HTTP edge over the server API and the node's operator reads.
  admin: ['protocol', 'core', 'http', 'config', 'broker', 'hub', 'auth', 'observability', 'delivery', 'api', 'node.ts', 'node'],
  // Webhooks listen to the node's lifecycle port (node/events.ts); the wiring connects them.
  webhooks: ['protocol', 'core', 'config', 'broker', 'observability', 'node'],
  client: ['protocol'],
};

const any = (names) => `^src/(${names.map((n) => n.replace('.', '\\.')).join('|')})(/|$)`;

/** Layers whose code may name these layers' types (`import type`) but not use their code: the ports they implement. */
const TYPE_ONLY = {
  observability: ['broker', 'hub', 'session'],
};

const layerRules = Object.entries(LAYERS).flatMap(([layer, allowed]) => {
  const types = TYPE_ONLY[layer] ?? [];
  const rules = [{
    name: `layer-${layer}`,
    comment: allowed.length === 0
      ? `src/${layer}/ is at the bottom: it imports nothing else of ours`
      : `src/${layer}/ may import only ${allowed.join(', ')}${types.length ? ` (and types of ${types.join(', ')})` : ''}`,
    severity: 'error',
    from: { path: `^src/${layer}/` },
    to: { path: '^src/', pathNot: any([layer, ...allowed, ...types]) },
  }];
  if (types.length > 0) {
    rules.push({
      name: `layer-${layer}-types-only`,
      comment: `src/${layer}/ may name the types of ${types.join(', ')} (the ports it implements), not import their code`,
      severity: 'error',
      from: { path: `^src/${layer}/` },
      to: { path: any(types), dependencyTypesNot: ['type-only'] },
    });
  }
  return rules;
});

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
  },
};
