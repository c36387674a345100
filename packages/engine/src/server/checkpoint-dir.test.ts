import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILTIN_TINY_CONFIG } from '../model/builtin-tiny.js';
import { writeHfModel } from '../model/loader/loader.test-helpers.js';
import { createServer } from './create-server.js';
import { launchTiny, recordCalls } from './tiny-engine.test-helpers.js';

let app: FastifyInstance | undefined;
afterEach(() => app?.close());

describe('--checkpoint-dir', () => {
  it('lets update_weights_from_disk read only under the directory, links resolved', async () => {
    const base = mkdtempSync(join(tmpdir(), 'ts-ckpt-'));
    const root = join(base, 'checkpoints');
    mkdirSync(join(root, 'step-2'), { recursive: true });
    writeFileSync(join(base, 'secret.bin'), 'secret');
    symlinkSync(join(base, 'secret.bin'), join(root, 'escape.bin'));
    await writeHfModel(join(root, 'step-2'), BUILTIN_TINY_CONFIG, { dtype: 'float32' });
    const engine = await launchTiny();
    const calls = recordCalls(engine, ['updateWeightsFromDisk']);
    app = createServer(engine, { checkpointDir: root });
    app.addHook('onClose', () => engine.shutdown());
    const update = (model_path: string) =>
      (app as FastifyInstance).inject({
        method: 'POST',
        url: '/update_weights_from_disk',
        payload: { model_path },
      });
    expect((await update(join(root, 'step-2'))).statusCode).toBe(200);
    const refused = `model_path must name a checkpoint under ${root} (--checkpoint-dir)`;
    for (const path of [
      join(base, 'secret.bin'),
      join(root, 'escape.bin'),
      join(root, '..', 'secret.bin'),
      join(root, 'missing'),
      '/etc/passwd',
    ]) {
      const res = await update(path);
      expect(res.statusCode).toBe(403);
      expect(res.json()).toEqual({ success: false, message: refused });
    }
    expect(calls).toEqual([['updateWeightsFromDisk', { modelPath: join(root, 'step-2') }]]);
  });
});
