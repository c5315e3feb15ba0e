/**
 * Files built into the single executable (scripts/build-exe.mjs embeds them as SEA assets): the demo page (`web/…`),
 * the browser SDK bundle (`client/switchboard.min.js`) and the Grafana dashboard (`deploy/grafana/switchboard.json`).
 * An install from npm or a checkout reads them from dist/ and deploy/ instead. The executable's entry
 * (src/cli/sea.ts) registers them before the CLI starts; nothing registers them otherwise.
 */
export interface EmbeddedFiles {
  /** Every embedded name, `/`-separated, relative to the package root's layout above. */
  readonly names: readonly string[];
  read(name: string): Buffer | undefined;
}

let embedded: EmbeddedFiles | undefined;

export function setEmbeddedFiles(files: EmbeddedFiles): void {
  embedded = files;
}

/** The embedded files, when running as the single executable. */
export function embeddedFiles(): EmbeddedFiles | undefined {
  return embedded;
}
