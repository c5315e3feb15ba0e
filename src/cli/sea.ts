/**
 * Entry of the single executable (`npm run build:exe`, scripts/build-exe.mjs bundles it with everything it imports
 * into one CommonJS file): the embedded files first (sea-setup.ts), then the CLI. ES modules run in import order.
 */
import './sea-setup.js';
import './main.js';
