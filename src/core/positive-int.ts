/**
 * A positive whole number from text, such as an environment variable: `undefined` when unset or blank, `null` when
 * it is something else (the caller decides whether that is an error or falls back to a default).
 */
export function parsePositiveInt(raw: string | undefined): number | null | undefined {
  const text = raw?.trim();
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? n : null;
}
