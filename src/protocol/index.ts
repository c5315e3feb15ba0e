/** The wire protocol, shared by the server and the client SDK. Pure: no I/O, no Node-only APIs. */
export * from './position.js';
export * from './errors.js';
export * from './disconnects.js';
export * from './reconnect.js';
export * from './names.js';
export * from './fields.js';
export * from './commands.js';
export * from './replies.js';
export * from './frames.js';
export * from './sse.js';

/** Version of the protocol described in docs/protocol.md. */
export const PROTOCOL_VERSION = 1;
export * from './fossil.js';
