/**
 * Real Pusher clients against a test server: `pusher-js` (the Node build) authorized by the real `pusher` server
 * library, as an app's auth endpoint would do, and that library as the publisher.
 */
import * as pusherJs from 'pusher-js';
import PusherServer from 'pusher';
import { withTimeout } from './wait.js';

/** pusher-js is CommonJS: its class is the module itself (Node's ESM `default`), typed as the module's `default`. */
type PusherCtor = typeof pusherJs.default.default;
export type PusherClient = InstanceType<PusherCtor>;
const loaded = pusherJs.default as unknown as PusherCtor & { default?: PusherCtor };
const PusherClient: PusherCtor = loaded.default ?? loaded;

/** A Pusher app's credentials. */
export interface AppCredentials {
  readonly appId: string;
  readonly key: string;
  readonly secret: string;
}

export const APP: AppCredentials = { appId: '4242', key: 'test-app-key', secret: 'test-app-secret' };
/** Server flags turning the Pusher endpoints on, with presence member events for channels without a namespace. */
export const PUSHER_FLAGS = ['--pusher.appId', APP.appId, '--pusher.key', APP.key, '--pusher.secret', APP.secret, '--channel.joinLeave', 'true'];

/** The `pusher` server library for `app` (default APP), signing with `secret` (default the app's). */
export function pusherServer(port: number, secret?: string, app: AppCredentials = APP): PusherServer {
  return new PusherServer({ appId: app.appId, key: app.key, secret: secret ?? app.secret, host: '127.0.0.1', port: String(port), useTLS: false });
}

export interface ClientOptions {
  /** The user of presence channels (`channel_data.user_id`). */
  user?: string;
  /** Signs channel authorizations with this secret instead of the app's (a wrong signature). */
  secret?: string;
  /** The app whose key the client connects with (default APP). */
  app?: AppCredentials;
  /** The app whose auth endpoint signs (default `app`): another app's signature. */
  signWith?: AppCredentials;
}

/** A pusher-js client whose channel authorizations are signed by the `pusher` library (the app's auth endpoint). */
export function pusherClient(port: number, o: ClientOptions = {}): PusherClient {
  const app = o.app ?? APP;
  const signer = pusherServer(port, o.secret, o.signWith ?? app);
  return new PusherClient(app.key, {
    cluster: 'test',
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    userAuthentication: {
      endpoint: 'unused',
      transport: 'ajax',
      customHandler: (params: { socketId: string }, callback: (e: Error | null, d: { auth: string; user_data: string }) => void) => {
        callback(null, signer.authenticateUser(params.socketId, { id: o.user ?? 'anon', user_info: { name: o.user ?? 'anon' } }));
      },
    },
    channelAuthorization: {
      endpoint: 'unused',
      transport: 'ajax',
      customHandler: (params, callback) => {
        const presence = params.channelName.startsWith('presence-') ? { user_id: o.user ?? 'anon', user_info: { name: o.user ?? 'anon' } } : undefined;
        callback(null, signer.authorizeChannel(params.socketId, params.channelName, presence));
      },
    },
  });
}

/** Resolves with the socket id once connected. */
export function connected(p: PusherClient): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve) => {
      if (p.connection.state === 'connected') resolve(p.connection.socket_id);
      else p.connection.bind('connected', () => resolve(p.connection.socket_id));
    }),
    5000,
    'pusher-js connected',
  );
}

/** Subscribes and resolves with the `pusher:subscription_succeeded` data, or rejects with the subscription error. */
export function subscribed(p: PusherClient, channel: string): Promise<any> {
  const ch = p.subscribe(channel);
  return withTimeout(
    new Promise((resolve, reject) => {
      ch.bind('pusher:subscription_succeeded', resolve);
      ch.bind('pusher:subscription_error', (e: unknown) => reject(Object.assign(new Error('subscription_error'), { data: e })));
    }),
    5000,
    `subscribe ${channel}`,
  );
}

/** The next `event` on `channel`. */
export function nextEvent(p: PusherClient, channel: string, event: string, timeoutMs = 3000): Promise<any> {
  return withTimeout(
    new Promise((resolve) => {
      const ch = p.channel(channel);
      const h = (data: unknown) => {
        ch.unbind(event, h);
        resolve(data);
      };
      ch.bind(event, h);
    }),
    timeoutMs,
    `${event} on ${channel}`,
  );
}

/** Collects every `event` on `channel` of a client. */
export function collect(p: PusherClient, channel: string, event: string): unknown[] {
  const got: unknown[] = [];
  p.channel(channel).bind(event, (d: unknown) => got.push(d));
  return got;
}
