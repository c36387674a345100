import { describe, expect, it } from 'vitest';
import { flagKey } from '../protocol/option-flags.js';
import { SERVE_FLAGS, serveFlags } from './serve-flags.js';

describe('the serve flags table', () => {
  it("keys each row by commander's key for its flag", () => {
    for (const [key, spec] of Object.entries(SERVE_FLAGS)) expect(flagKey(spec.flag)).toBe(key);
  });

  it('declares every row with its value name, its choices in the help, and its default', () => {
    const declared = serveFlags();
    expect(declared).toHaveLength(Object.keys(SERVE_FLAGS).length);
    expect(declared).toContainEqual([
      '--device <device>',
      'where the model runs: auto, cuda, cpu',
      'auto',
    ]);
    expect(declared).toContainEqual(['--port <port>', 'port to listen on (0..65535)', '30000']);
    expect(declared.find(([flag]) => flag.startsWith('--admin-key'))).toEqual([
      '--admin-key <key>',
      'bearer key for the control endpoints (or TS_ENGINE_ADMIN_KEY)',
    ]);
  });
});
