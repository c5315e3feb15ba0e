/**
 * Where a failure came from, recorded as `error.type` on spans and in logs: the error table's class
 * (src/protocol/errors.ts). In a file of its own (no OpenTelemetry import) so the layers that only name a class,
 * like the transports, need no tracer.
 */
export type { ErrorClass as ErrorType } from '../protocol/errors.js';
