/** Client options are checked when the client is created: a bad one throws OptionError naming it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createClient, createSseClient, OptionError, type ClientOptions } from '../../src/client/index.js';

function refused(opts: unknown, option: string): void {
  assert.throws(() => createClient(opts as ClientOptions), (e: unknown) => e instanceof OptionError && e.code === 'invalid_option' && e.message.includes(`"${option}"`));
}

describe('client options', () => {
  it('names the option that is wrong', () => {
    refused({ url: 'not a url' }, 'url');
    refused({ url: 'ftp://x/ws' }, 'url');
    refused({ url: 'ws://x/ws', timeout: -1 }, 'timeout');
    refused({ url: 'ws://x/ws', timeout: 0 }, 'timeout');
    refused({ url: 'ws://x/ws', pingInterval: 'often' }, 'pingInterval');
    refused({ url: 'ws://x/ws', minReconnectDelay: 1000, maxReconnectDelay: 10 }, 'maxReconnectDelay');
    refused({ url: 'ws://x/ws', token: 42 }, 'token');
    refused({ url: 'ws://x/ws', getToken: 'abc' }, 'getToken');
    refused({ url: 'ws://x/ws', WebSocket: {} }, 'WebSocket');
    assert.throws(() => createSseClient({ url: 'ws://x/events' }), OptionError);
    assert.throws(() => createSseClient({ url: 'http://x/events', transport: 'carrier-pigeon' as 'fetch' }), /"transport"/);
  });

  it('accepts http(s) for the WebSocket client and starts disconnected', () => {
    const c = createClient({ url: 'http://127.0.0.1:1/ws' });
    assert.equal(c.state, 'disconnected');
    assert.throws(() => c.newSubscription(''), /"channel"/);
  });

  it('picks the SSE reader: fetch unless EventSource fits (events listed, no headers)', () => {
    class FakeEs {
      onopen = null;
      onerror = null;
      addEventListener(): void {}
      close(): void {}
    }
    assert.equal(createSseClient({ url: 'http://x/events' }).transport, 'fetch');
    assert.equal(createSseClient({ url: 'http://x/events', EventSource: FakeEs, events: ['chat'] }).transport, 'eventsource');
    assert.equal(createSseClient({ url: 'http://x/events', EventSource: FakeEs, events: ['chat'], headers: { a: 'b' } }).transport, 'fetch');
    assert.equal(createSseClient({ url: 'http://x/events', EventSource: FakeEs }).transport, 'fetch');
  });
});
