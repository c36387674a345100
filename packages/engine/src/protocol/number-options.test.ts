import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import {
  NUMBER_OPTIONS,
  type NumberOptionName,
  numberFlags,
  numberOptionsFromFlags,
  resolveNumberOptions,
} from './number-options.js';

/** The numeric options as `ts-engine serve` parses `args` (commander, as cli/main.ts declares them). */
function parsed(args: string[]) {
  const command = new Command().exitOverride();
  for (const [flag, help, fallback] of numberFlags()) command.option(flag, help, fallback);
  command.parse(args, { from: 'user' });
  return resolveNumberOptions(numberOptionsFromFlags(command.opts()));
}

const names = Object.keys(NUMBER_OPTIONS) as NumberOptionName[];
const defaults = resolveNumberOptions({});

/** A value of the option's kind other than its default. */
function another(name: NumberOptionName): number {
  const spec = NUMBER_OPTIONS[name];
  if (spec.kind === 'fraction') return 0.5;
  if (spec.kind === 'number >= 0') return 2.5;
  return (spec.default ?? 0) + 3;
}

describe('numeric options, declared once', () => {
  it('left out, each takes its default (null: derived by the rank)', () => {
    expect(parsed([])).toEqual(defaults);
    for (const name of names) expect(defaults[name]).toBe(NUMBER_OPTIONS[name].default);
    expect(defaults.maxRunning).toBeNull();
    expect(defaults.numPages).toBeNull();
  });

  it.each(names)('%s: its flag (and SGLang name) sets it, and nothing else', (name) => {
    const spec: { flag: string; sglangFlag?: string } = NUMBER_OPTIONS[name];
    for (const flag of [spec.flag, ...(spec.sglangFlag ? [spec.sglangFlag] : [])])
      expect(parsed([`--${flag}`, String(another(name))])).toEqual({
        ...defaults,
        [name]: another(name),
      });
  });

  it('names the flag a value does not fit, and the option at launch', () => {
    expect(() => parsed(['--dp-size', 'two'])).toThrow("--dp-size must be an integer, got 'two'");
    expect(() => parsed(['--schedule-conservativeness', '-1'])).toThrow(
      "--schedule-conservativeness must be a number >= 0, got '-1'",
    );
    expect(() => parsed(['--page-size', '0'])).toThrow('pageSize must be a positive integer');
    expect(() => parsed(['--max-input-logprob-rows', '-1'])).toThrow(
      'maxInputLogprobRows must be an integer >= 0',
    );
    expect(() => parsed(['--kv-memory-fraction', '1'])).toThrow(
      'kvMemoryFraction must be in (0, 1)',
    );
    expect(() => resolveNumberOptions({ maxRunning: 0 })).toThrow(
      'maxRunning must be a positive integer',
    );
  });

  it('takes a flag and its SGLang name together only when they agree', () => {
    expect(parsed(['--max-running', '8', '--max-running-requests', '8']).maxRunning).toBe(8);
    expect(() => parsed(['--max-running', '8', '--max-running-requests', '9'])).toThrow(
      '--max-running and --max-running-requests name one option: give one of them',
    );
  });
});
