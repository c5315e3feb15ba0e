/** "Did you mean" for unknown option names, env variables and CLI commands. */

function distance(a: string, b: string): number {
  // Levenshtein with one rolling row: names are short, so O(a·b) is nothing.
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length];
}

/**
 * The candidate closest to `name`, or undefined when nothing is close. `short(candidate)` is compared too, so a bare
 * "pingInterval" finds "websocket.pingInterval" although the full names are far apart. Case-insensitive.
 */
export function closest(name: string, candidates: readonly string[], short: (c: string) => string = (c) => c): string | undefined {
  const n = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(n.length / 3)) + 1;
  for (const c of candidates) {
    const d = Math.min(distance(n, c.toLowerCase()), distance(n, short(c).toLowerCase()));
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}
