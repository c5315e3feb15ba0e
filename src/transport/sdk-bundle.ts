/**
 * The browser SDK bundle (dist/client/switchboard.min.js, built by scripts/build-client.mjs) served by the server
 * itself at `sdk.path`, so a page can `import { createClient } from 'http://server/switchboard.min.js'` with nothing
 * to install or host. It is a public script: any origin may load it (module scripts are fetched with CORS), with
 * no credentials.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { sendError } from '../http/responses.js';
import { embeddedStaticFile, loadStaticFile, sendStatic, type StaticFile } from '../http/static.js';

/** dist/client/switchboard.min.js from dist/transport (compiled) or src/transport (tsx): `../../dist/client/`. */
export const SDK_BUNDLE_FILE = fileURLToPath(new URL('../../dist/client/switchboard.min.js', import.meta.url));

const PUBLIC_SCRIPT = Object.freeze({
  'access-control-allow-origin': '*',
  'cross-origin-resource-policy': 'cross-origin',
});

export class SdkBundle {
  private constructor(private readonly file: StaticFile) {}

  /**
   * The built bundle (embedded in the single executable, else read from `file`). Undefined when it was not built (tsc
   * only): the path then answers 404 like any unknown path.
   */
  static load(file = SDK_BUNDLE_FILE): SdkBundle | undefined {
    const embedded = file === SDK_BUNDLE_FILE ? embeddedStaticFile('client/switchboard.min.js', 'switchboard.min.js') : undefined;
    const f = embedded ?? loadStaticFile(file, 'switchboard.min.js');
    return f ? new SdkBundle(f) : undefined;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, 405, 'method_not_allowed', 'use GET', { allow: 'GET, HEAD', ...PUBLIC_SCRIPT });
      return;
    }
    sendStatic(req, res, this.file, PUBLIC_SCRIPT);
  }
}
