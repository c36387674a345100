import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import { createServer } from './create-server.js';

let engine: Engine;
beforeAll(async () => {
  engine = await Engine.launch({ model: 'builtin:tiny', device: 'cpu', numPages: 64 });
});
afterAll(() => engine.shutdown());

describe('/health_generate on a real engine', () => {
  it('is 200 while serving, 503 in time while generation is paused, and leaves nothing behind', async () => {
    const app = createServer(engine, { healthGenerateMs: 200 });
    try {
      expect((await app.inject({ url: '/health_generate' })).statusCode).toBe(200);
      await engine.pauseGeneration({ mode: 'keep' });
      const paused = await app.inject({ url: '/health_generate' });
      expect(paused.statusCode).toBe(503);
      expect(paused.json().message).toBe('no token within 0.2 s (is generation paused?)');
      await engine.continueGeneration();
      const metrics = await engine.metrics();
      expect(metrics.runningRequests + metrics.waitingRequests).toBe(0);
      expect((await app.inject({ url: '/health_generate' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});
