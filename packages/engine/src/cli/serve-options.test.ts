import { describe, expect, it } from 'vitest';
import { type ServeFlags, serveSettings } from './serve-options.js';

const defaults: ServeFlags = {
  model: 'builtin:tiny',
  device: 'auto',
  host: '127.0.0.1',
  port: '30000',
  dpSize: '1',
  dtype: 'float32',
  pageSize: '16',
  maxRunning: '32',
  maxBatchTokens: '2048',
  maxInputLogprobRows: '128',
  contextLength: '2048',
  kvMemoryFraction: '0.3',
  prefixCache: true,
};

describe('serveSettings', () => {
  it('turns flags into launch options', () => {
    const s = serveSettings({
      ...defaults,
      dpSize: '2',
      numPages: '64',
      adminKey: 'k',
      freeBackupsOnWake: true,
      disableCudaGraph: true,
    });
    expect(serveSettings(defaults).launch.cudaGraphs).toBe(true);
    expect(s).toMatchObject({ host: '127.0.0.1', port: 30000, adminKey: 'k' });
    expect(s.launch).toMatchObject({
      model: 'builtin:tiny',
      dpSize: 2,
      numPages: 64,
      maxContext: 2048,
      freeBackupsOnWake: true,
      cudaGraphs: false,
    });
  });

  it('names the flag that is wrong', () => {
    expect(() => serveSettings({ ...defaults, device: 'tpu' })).toThrow(/--device/);
    expect(() => serveSettings({ ...defaults, dtype: 'int8' })).toThrow(/--dtype/);
    expect(() => serveSettings({ ...defaults, port: '70000' })).toThrow(/--port/);
    expect(() => serveSettings({ ...defaults, dpSize: 'two' })).toThrow(
      /--dp-size must be an integer/,
    );
  });
});
