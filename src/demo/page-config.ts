/**
 * What the demo page reads from `GET /demo/config.json` about this server. Shared by the server (src/demo/page.ts)
 * and the page (web/demo/app.ts), so it imports nothing.
 */
export interface DemoPageConfig {
  auth: 'jwt' | 'development';
  websocket: string;
  sse: string;
  stream: { channel: string; producer: boolean; intervalMs: number };
  notify: boolean;
  version: string;
}
