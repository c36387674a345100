export type { ServerOptions } from './create-server.js';
export { createServer } from './create-server.js';
export { EngineMetricsExporter } from './metrics.js';
