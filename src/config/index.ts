/** Public API of the config module: load once at start-up, then pass the frozen Config down. */
export { configSource, loadConfig, type LoadConfigInput } from './load.js';
export { ConfigError, type ConfigProblem } from './errors.js';
export { configOptions, configSchema, envName, LOG_LEVELS, type Config, type ConfigOption, type NamespaceConfig } from './schema.js';
export { parseDuration, MAX_DURATION_MS, type OptionKind } from './fields.js';
export { renderConfigDocs } from './docs.js';
