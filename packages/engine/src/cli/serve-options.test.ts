import { describe, expect, it } from 'vitest';
import { type ServeFlags, serveSettings } from './serve-options.js';

const defaults: ServeFlags = {
  model: 'builtin:tiny',
  device: 'auto',
  host: '127.0.0.1',
  port: '30000',
  dpSize: '1',
  tpSize: '1',
  dtype: 'auto',
  pageSize: '16',
  maxBatchTokens: '2048',
  maxInputLogprobRows: '128',
  scheduleConservativeness: '1',
  contextLength: '2048',
  kvMemoryFraction: '0.3',
  shutdownTimeout: '10',
  prefixCache: true,
};

describe('serveSettings', () => {
  it('turns flags into launch options', () => {
    const s = serveSettings({
      ...defaults,
      dpSize: '2',
      tpSize: '2',
      numPages: '64',
      adminKey: 'k',
      freeBackupsOnWake: true,
      disableCudaGraph: true,
      disableOverlapSchedule: true,
    });
    expect(serveSettings(defaults).launch.cudaGraphs).toBe(true);
    expect(serveSettings(defaults).launch.overlapSchedule).toBe(true);
    expect(s).toMatchObject({ host: '127.0.0.1', port: 30000, server: { adminKey: 'k' } });
    expect(serveSettings(defaults).launch.dtype).toBe('auto');
    expect(serveSettings(defaults).shutdownTimeoutMs).toBe(10_000);
    expect(s.launch).toMatchObject({
      model: 'builtin:tiny',
      dpSize: 2,
      tpSize: 2,
      numPages: 64,
      maxContext: 2048,
      freeBackupsOnWake: true,
      cudaGraphs: false,
      overlapSchedule: false,
    });
  });

  it('leaves the running-batch limit to the ranks unless a flag gives it', () => {
    expect(serveSettings(defaults).launch).not.toHaveProperty('maxRunning');
    expect(serveSettings({ ...defaults, maxRunning: '64' }).launch.maxRunning).toBe(64);
    expect(serveSettings({ ...defaults, maxRunningRequests: '48' }).launch.maxRunning).toBe(48);
    expect(() => serveSettings({ ...defaults, maxRunning: '8', maxRunningRequests: '9' })).toThrow(
      /give one of them/,
    );
  });

  it('refuses non-finite weights unless --allow-non-finite-weights', () => {
    expect(serveSettings(defaults).launch.allowNonFiniteWeights).toBe(false);
    const allowed = serveSettings({ ...defaults, allowNonFiniteWeights: true });
    expect(allowed.launch.allowNonFiniteWeights).toBe(true);
  });

  it("takes --deterministic, or SGLang's --enable-deterministic-inference", () => {
    expect(serveSettings(defaults).launch.deterministic).toBe(false);
    expect(serveSettings({ ...defaults, deterministic: true }).launch.deterministic).toBe(true);
    expect(
      serveSettings({ ...defaults, enableDeterministicInference: true }).launch.deterministic,
    ).toBe(true);
  });

  it("takes SGLang's --schedule-conservativeness, a number >= 0", () => {
    expect(serveSettings(defaults).launch.scheduleConservativeness).toBe(1);
    const none = serveSettings({ ...defaults, scheduleConservativeness: '0' });
    expect(none.launch.scheduleConservativeness).toBe(0);
    expect(() => serveSettings({ ...defaults, scheduleConservativeness: '-1' })).toThrow(
      "--schedule-conservativeness must be a number >= 0, got '-1'",
    );
  });

  it('names the flag that is wrong', () => {
    expect(() => serveSettings({ ...defaults, device: 'tpu' })).toThrow(
      "--device must be one of auto, cuda, cpu, got 'tpu'",
    );
    expect(() => serveSettings({ ...defaults, dtype: 'int8' })).toThrow(
      "--dtype must be one of auto, float32, bfloat16, float16, got 'int8'",
    );
    expect(() => serveSettings({ ...defaults, port: '70000' })).toThrow(/--port/);
    expect(() => serveSettings({ ...defaults, shutdownTimeout: 'soon' })).toThrow(
      /--shutdown-timeout/,
    );
    expect(() => serveSettings({ ...defaults, dpSize: 'two' })).toThrow(
      /--dp-size must be an integer/,
    );
  });

  it('refuses an empty admin key, from the flag or the environment, instead of serving without auth', () => {
    expect(() => serveSettings({ ...defaults, adminKey: '' }, {})).toThrow(
      '--admin-key is empty: give a key, or leave it unset to serve without one',
    );
    expect(() => serveSettings(defaults, { TS_ENGINE_ADMIN_KEY: '  ' })).toThrow(
      'TS_ENGINE_ADMIN_KEY is empty',
    );
    expect(serveSettings(defaults, { TS_ENGINE_ADMIN_KEY: 'k' }).server.adminKey).toBe('k');
    expect(serveSettings(defaults, {}).server.adminKey).toBeUndefined();
  });

  it('checks the Host header on loopback without a key, and warns loudly beyond loopback without one', () => {
    const local = serveSettings(defaults, {});
    expect(local.server.allowedHosts).toEqual(['localhost', '127.0.0.1', '::1']);
    expect(local.warnings).toEqual([]);
    const keyed = serveSettings({ ...defaults, adminKey: 'k' }, {});
    expect(keyed.server.allowedHosts).toBeNull();
    const open = serveSettings({ ...defaults, host: '0.0.0.0' }, {});
    expect(open.server.allowedHosts).toBeNull();
    expect(open.warnings[0]).toMatch(/^serving on 0\.0\.0\.0 with no admin key: anyone/);
    expect(serveSettings({ ...defaults, host: '0.0.0.0', adminKey: 'k' }, {}).warnings).toEqual([]);
  });

  it('passes CORS origins and the checkpoint directory to the server', () => {
    const s = serveSettings(
      {
        ...defaults,
        corsAllowOrigins: 'https://a.example, https://b.example',
        checkpointDir: '/ckpt',
      },
      {},
    );
    expect(s.server).toMatchObject({
      corsOrigins: ['https://a.example', 'https://b.example'],
      checkpointDir: '/ckpt',
    });
  });
});
