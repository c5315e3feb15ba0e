/**
 * The seeds' error classes: where a failure came from, recorded as `error.type` on spans and in logs. In a file of
 * its own (no OpenTelemetry import) so the layers that only name a class, like the transports, need no tracer.
 */
export type ErrorType = 'connection' | 'protocol' | 'auth' | 'business';
