/**
 * The reconnect rule, the one place it is written (docs/protocol.md, "Disconnects and close codes"): 4500-4999
 * mean "do not reconnect"; every other code (1000-1999, 4000-4499, and the SDK's own 3000-3099) means reconnect,
 * with backoff. A file of its own so the client SDK takes just this function into its bundle.
 */
export function reconnects(code: number): boolean {
  return code < 4500 || code > 4999;
}
