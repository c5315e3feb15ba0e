import type { Config } from '../config/index.js';

const error = { $ref: '#/components/schemas/Error' };
const position = { $ref: '#/components/schemas/Position' };
const exclude = { type: 'string', minLength: 1, maxLength: 64, description: 'A connection id (GET /api/connections) that does not receive the publication; it gets a skip push instead.' };
const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const errors = {
  '400': { description: 'Bad request (`invalid_json`, `bad_request`, `invalid_channel`, `invalid_event`)', ...json(error) },
  '401': { description: 'Missing or wrong API key (`unauthorized`)', ...json(error) },
  '413': { description: 'Body larger than api.maxBodySize (`message_too_large`)', ...json(error) },
  '503': { description: 'Not ready, or the broker is unavailable (`unavailable`)', ...json(error) },
  '504': { description: 'The broker did not answer within redis.commandTimeout; a write may or may not have taken effect (`outcome_unknown`)', ...json(error) },
};
const channelQuery = { name: 'channel', in: 'query', required: true, schema: { type: 'string' } };

/** The OpenAPI 3.1 description of the server API, served at /api/openapi.json. */
export function openApiDocument(config: Config): unknown {
  return {
    openapi: '3.1.0',
    info: { title: 'Switchboard server API', version: '1', description: 'Publish to channels and inspect a Switchboard node. See docs/api.md.' },
    servers: [{ url: `http://${config.host}:${config.port}` }],
    security: config.apiKey ? [{ apiKey: [] }] : [],
    components: {
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'Or `Authorization: apikey <key>`.' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
        },
        Position: {
          type: 'object',
          required: ['channel', 'epoch', 'offset'],
          properties: { channel: { type: 'string' }, epoch: { type: 'string' }, offset: { type: 'integer', minimum: 1 } },
        },
        PublishRequest: {
          type: 'object',
          required: ['channel'],
          // `data` is required except for a keyed channel's delete.
          anyOf: [{ required: ['data'] }, { required: ['op'], properties: { op: { const: 'delete' } } }],
          additionalProperties: false,
          properties: {
            channel: { type: 'string', maxLength: config.channel.maxLength },
            event: { type: 'string', default: 'message', pattern: '^[A-Za-z0-9_\\-.:]{1,64}$' },
            data: { description: 'Any JSON value, delivered as the push `payload`.' },
            traceparent: { type: 'string' },
            tracestate: { type: 'string' },
            key: { type: 'string', description: 'Keyed channels only (required there): the key this publication sets or deletes.' },
            op: { type: 'string', enum: ['upsert', 'delete'], default: 'upsert', description: 'Keyed channels: a delete needs no data.' },
            idempotency_key: { type: 'string', pattern: '^[\\x21-\\x7e]{1,128}$', description: 'A retry with the same key to the same channel within publish.idempotencyWindow publishes nothing and answers the first position.' },
            exclude,
          },
        },
      },
    },
    paths: {
      '/api/publish': {
        post: {
          summary: 'Publish to a channel; returns the stream position.',
          requestBody: { required: true, ...json({ $ref: '#/components/schemas/PublishRequest' }) },
          responses: { '200': { description: 'Published', ...json(position) }, ...errors },
        },
      },
      '/api/broadcast': {
        post: {
          summary: 'Publish one message to many channels.',
          requestBody: {
            required: true,
            ...json({ type: 'object', required: ['channels', 'data'], properties: { channels: { type: 'array', items: { type: 'string' }, maxItems: 1000 }, event: { type: 'string' }, data: {}, exclude } }),
          },
          responses: { '200': { description: 'One result per channel', ...json({ type: 'object', properties: { results: { type: 'array', items: {} } } }) }, ...errors },
        },
      },
      '/api/send': {
        post: {
          summary: 'Send a message to every connection of a user (not stored in history).',
          requestBody: { required: true, ...json({ type: 'object', required: ['user', 'data'], properties: { user: { type: 'string' }, event: { type: 'string' }, data: {}, traceparent: { type: 'string' }, tracestate: { type: 'string' } } }) },
          responses: { '200': { description: 'Sent', ...json({ type: 'object' }) }, ...errors },
        },
      },
      '/api/disconnect': {
        post: {
          summary: 'Disconnect every connection of a user, or one of them (client).',
          requestBody: {
            required: true,
            ...json({ type: 'object', required: ['user'], properties: { user: { type: 'string' }, client: { type: 'string', description: 'a connection id (GET /api/connections): only that connection' }, code: { type: 'integer', minimum: 4000, maximum: 4999 }, reason: { type: 'string' } } }),
          },
          responses: { '200': { description: 'Done', ...json({ type: 'object' }) }, ...errors },
        },
      },
      '/api/connections': {
        get: {
          summary: 'A user\'s connections on every node: client id, transport, ip, since (Unix ms) and channels. Nodes that did not answer within 1 s are listed in missing.',
          parameters: [{ name: 'user', in: 'query', required: true, schema: { type: 'string' } }],
          responses: { '200': { description: 'user, connections (each with its node), missing' }, ...errors },
        },
      },
      '/api/presence': { get: { summary: 'Members of a channel.', parameters: [channelQuery], responses: { '200': { description: 'Members' }, ...errors } } },
      '/api/history': {
        get: {
          summary: `Publications kept for a channel, at most api.maxReplyBytes (${config.api.maxReplyBytes}) bytes per response: a response cut short carries next.`,
          parameters: [
            channelQuery,
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 0, maximum: config.api.maxHistoryLimit } },
            { name: 'since', in: 'query', schema: { type: 'string', description: 'epoch:offset; only publications after it (oldest first: continue a cut response with since=<next>)' } },
            { name: 'before', in: 'query', schema: { type: 'string', description: 'epoch:offset; only publications before it (newest first: continue a cut response with before=<next>)' } },
            { name: 'reverse', in: 'query', schema: { type: 'boolean' } },
          ],
          responses: { '200': { description: 'History: channel, epoch, offset, earliest, publications, and next (epoch:offset of the last publication) when api.maxReplyBytes cut the response' }, ...errors },
        },
      },
      '/api/state': {
        get: {
          summary: 'A page of a keyed channel\'s latest value per key, in offset order (docs/keyed-channels.md).',
          parameters: [
            channelQuery,
            { name: 'since', in: 'query', schema: { type: 'string', description: 'epoch:offset; only keys changed after it (a delta), when still possible' } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: config.api.maxHistoryLimit, default: Math.min(config.api.maxHistoryLimit, config.keyed.pageSize) } },
            { name: 'cursor', in: 'query', schema: { type: 'string', description: 'the next of the previous page, to continue a read' } },
          ],
          responses: { '200': { description: `State page: epoch, offset, snapshot (full|delta), publications, next (set when the page is full or cut by api.maxReplyBytes, ${config.api.maxReplyBytes} bytes)` }, ...errors },
        },
      },
      '/api/channels': { get: { summary: 'Channels with subscribers on any live node, subscriber counts summed over nodes.', responses: { '200': { description: 'Channels, the number of nodes counted, and the nodes whose list was cut (redis.reportChannels)' } } } },
      '/api/online': { get: { summary: 'Users connected to this node.', responses: { '200': { description: 'Users' } } } },
      '/api/stats': { get: { summary: 'Node statistics.', responses: { '200': { description: 'Stats' } } } },
    },
  };
}
