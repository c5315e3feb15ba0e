/**
 * Switchboard's public API (the package's main entry, `switchboard`): the server factory, its configuration, and
 * what a custom broker implements. The wire protocol's types and codecs are in `switchboard/protocol`, the client SDK
 * in `switchboard/client`. Everything else under src/ is internal. test/unit/exports.test.ts pins this list.
 */
export { createSwitchboard, VERSION, type Switchboard, type SwitchboardOptions, type SwitchboardPublishOptions } from './server.js';
export { loadConfig, ConfigError, type Config, type ConfigProblem, type LoadConfigInput } from './config/index.js';
export {
  BrokerOutcomeUnknownError,
  BrokerUnavailableError,
  NO_STREAM_EPOCH,
  type Broker,
  type BrokerHandler,
  type ControlMessage,
  type HistoryBounds,
  type HistoryQuery,
  type HistoryPage,
  type KeyedOptions,
  type KeyOp,
  type Member,
  type NodeRegistry,
  type NodeReport,
  type PublicationMeta,
  type PublishRequest,
  type ServerPublication,
  type StatePage,
  type StateQuery,
  type StreamPosition,
} from './broker/broker.js';
export { createMemoryBroker, type MemoryBrokerOptions } from './broker/memory.js';
export { createRedisBroker, type RedisBrokerOptions } from './broker/redis.js';
