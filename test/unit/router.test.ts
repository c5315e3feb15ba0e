/** The route table's lookup: in order, exact or prefix, by method with `*` as the rest, false when nothing answers. */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import { RouteTable, type RouteHandler } from '../../src/http/router.js';

const req = (method: string, url: string) => ({ method, url }) as IncomingMessage;
const res = {} as ServerResponse;

describe('RouteTable', () => {
  const hits: string[] = [];
  const h = (name: string): RouteHandler => (_q, _r, url) => void hits.push(`${name} ${url.pathname}${url.search}`);
  const table = new RouteTable(
    [
      { path: '/api/publish', methods: { POST: h('publish') } },
      { path: '/api/', prefix: true, methods: { '*': h('api-rest') } },
      { path: '/healthz', methods: { GET: h('health') } },
      { path: '/', prefix: true, methods: { GET: h('catch-all') } },
    ],
    [{ path: '/ws', handle: (_q, _s, _h, url) => void hits.push(`ws ${url.pathname}`) }],
  );
  const answer = (method: string, url: string) => {
    hits.length = 0;
    const answered = table.request(req(method, url), res);
    return answered ? hits[0] : undefined;
  };

  it('takes the first route whose path and method match, parsing the URL once for the handler', () => {
    assert.equal(answer('POST', '/api/publish?x=1'), 'publish /api/publish?x=1');
    assert.equal(answer('GET', '/api/publish'), 'api-rest /api/publish', 'a method the exact route lacks goes on to the prefix');
    assert.equal(answer('DELETE', '/api/anything'), 'api-rest /api/anything');
    assert.equal(answer('GET', '/api'), 'catch-all /api', '"/api" is not under the prefix "/api/"');
  });

  it('answers false when no route has the path and the method (an embedding app gets the request)', () => {
    assert.equal(answer('POST', '/healthz'), undefined);
    assert.equal(answer('POST', '/other'), undefined);
    assert.equal(answer('GET', '/healthz'), 'health /healthz');
  });

  it('matches upgrades by exact path', () => {
    hits.length = 0;
    assert.equal(table.upgrade(req('GET', '/ws?token=t'), {} as Duplex, Buffer.alloc(0)), true);
    assert.deepEqual(hits, ['ws /ws']);
    assert.equal(table.upgrade(req('GET', '/ws/x'), {} as Duplex, Buffer.alloc(0)), false);
  });
});
