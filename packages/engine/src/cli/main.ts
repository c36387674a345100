#!/usr/bin/env node
import { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import { Engine } from '../engine/engine.js';
import { sizeIoThreads } from '../io-threads.js';
import { numberFlags } from '../protocol/number-options.js';
import { switchFlags } from '../protocol/switches.js';
import { createServer } from '../server/index.js';
import { gracefulShutdown } from './graceful-shutdown.js';
import { loadProgress } from './load-progress.js';
import { serveFlags } from './serve-flags.js';
import { type ServeFlags, serveSettings } from './serve-options.js';

async function serve(flags: ServeFlags): Promise<void> {
  sizeIoThreads();
  const settings = serveSettings(flags);
  const progress = loadProgress();
  const started = performance.now();
  const engine = await Engine.launch({
    ...settings.launch,
    onProgress: (r, loaded, total) => progress.update(r, loaded, total),
  });
  progress.stop();
  const info = engine.modelInfo();
  const app = createServer(engine, { ...settings.server, modelName: settings.launch.model });
  await app.listen({ host: settings.host, port: settings.port });
  const log = (line: string) => console.error(`ts-engine: ${line}`);
  for (const line of settings.warnings) log(`WARNING: ${line}`);
  log(
    `${info.architecture} (${settings.launch.model}) on ${info.device} x${info.dpSize}, ${info.dtype}, ` +
      `ready in ${((performance.now() - started) / 1000).toFixed(1)} s, serving ${listeningUrl(app, settings.host)}`,
  );
  const close = gracefulShutdown({
    app,
    engine,
    timeoutMs: settings.shutdownTimeoutMs,
    log,
    exit: (code) => process.exit(code),
  });
  process.on('SIGINT', () => void close('SIGINT'));
  process.on('SIGTERM', () => void close('SIGTERM'));
}

/** The address as bound (not the first interface Fastify lists), with the port it got. */
function listeningUrl(app: FastifyInstance, host: string): string {
  const bound = app.server.address();
  const port = typeof bound === 'object' && bound ? bound.port : 0;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

const program = new Command('ts-engine').description(
  'An LLM inference engine that sleeps and wakes without stopping.',
);
const serveCommand = program
  .command('serve')
  .description('serve a model over HTTP (SGLang- and OpenAI-compatible)');
for (const [flag, help, fallback] of serveFlags()) serveCommand.option(flag, help, fallback);
for (const [flag, help, fallback] of numberFlags()) serveCommand.option(flag, help, fallback);
for (const [flag, help] of switchFlags()) serveCommand.option(flag, help);
serveCommand.action(async (flags: ServeFlags) => {
  try {
    await serve(flags);
  } catch (error) {
    console.error(`ts-engine: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
});

await program.parseAsync(process.argv);
