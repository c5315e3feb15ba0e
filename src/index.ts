/** Switchboard's public API: the server factory, configuration, the protocol and the broker interface. */
export { createSwitchboard, VERSION, type Switchboard, type SwitchboardOptions } from './server.js';
export { loadConfig, ConfigError, type Config } from './config/index.js';
export type { Broker, BrokerHandler, HistoryQuery, HistoryResult, PublishRequest, ControlMessage } from './broker/broker.js';
export { createMemoryBroker, type MemoryBrokerOptions } from './broker/memory.js';
export * from './protocol/index.js';
