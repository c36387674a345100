import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import {
  resolveSwitches,
  SWITCHES,
  type SwitchName,
  serverInfoSwitches,
  switchesFromFlags,
  switchFlags,
} from './switches.js';

/** The switches as `ts-engine serve` parses `args` (commander, as cli/main.ts declares them). */
function parsed(args: string[]) {
  const command = new Command().exitOverride();
  for (const [flag, help] of switchFlags()) command.option(flag, help);
  command.parse(args, { from: 'user' });
  return switchesFromFlags(command.opts());
}

const names = Object.keys(SWITCHES) as SwitchName[];
const defaults = resolveSwitches({});

describe('switches, declared once', () => {
  it('left out, each takes its default', () => {
    expect(parsed([])).toEqual(defaults);
    for (const name of names) expect(defaults[name]).toBe(SWITCHES[name].default);
  });

  it.each(names)(
    '%s: its flag (and SGLang name) turns it from its default, and nothing else',
    (name) => {
      const spec: { flag: string; sglangFlag?: string } = SWITCHES[name];
      for (const flag of [spec.flag, ...(spec.sglangFlag ? [spec.sglangFlag] : [])])
        expect(parsed([`--${flag}`])).toEqual({ ...defaults, [name]: !defaults[name] });
    },
  );

  it('refuses a value that is not a boolean, naming the option', () => {
    expect(() => resolveSwitches({ overlapSchedule: 'yes' })).toThrow(
      'overlapSchedule must be a boolean',
    );
  });

  it('server_info says disable_* for a switch that is off and enable_* for one that is on', () => {
    expect(serverInfoSwitches(defaults)).toEqual({
      disable_radix_cache: false,
      disable_cuda_graph: false,
      disable_overlap_schedule: false,
      enable_deterministic_inference: false,
    });
    const flipped = resolveSwitches({ prefixCache: false, cudaGraphs: false, deterministic: true });
    expect(serverInfoSwitches(flipped)).toMatchObject({
      disable_radix_cache: true,
      disable_cuda_graph: true,
      enable_deterministic_inference: true,
    });
  });
});
