import { SpanStatusCode, type Span } from '@opentelemetry/api';
import { errorClassOf } from '../protocol/errors.js';
import type { ErrorType } from './error-type.js';

export type { ErrorType } from './error-type.js';

/** Marks a span failed with its class and stable code (never message contents). */
export function markError(span: Span, type: ErrorType, code: string, message?: string): void {
  span.setAttribute('error.type', type);
  span.setAttribute('switchboard.error.code', code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: message ?? code });
}

/** Which class a reply error code belongs to (the error table's `class`; `business` for a code outside it). */
export const errorTypeOf: (code: string) => ErrorType = errorClassOf;

/** Close codes that end a connection normally (not recorded as errors). */
export function isNormalClose(code: number): boolean {
  return code === 1000 || code === 1001 || code === 1005;
}
