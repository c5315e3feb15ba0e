import { createRequire } from 'node:module';

/** The package version (package.json), reported by `/`, the WebSocket `connected` frame and the telemetry resource. */
export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
