import { describe, expect, it } from 'vitest';
import { DEVICE } from '../model/runner.test-helpers.js';
import { runRolloutBench } from './run-rollout-bench.js';

/** The cells of the table's one data row, by the header's names. */
function tableRow(lines: readonly string[]): Record<string, string> {
  const cells = (line: string) =>
    line
      .slice(1, -1)
      .split('|')
      .map((cell) => cell.trim());
  const at = lines.findIndex((line) => line.startsWith('| --- |'));
  const header = cells(lines[at - 1] as string);
  const row = cells(lines[at + 1] as string);
  return Object.fromEntries(header.map((name, i) => [name, row[i] as string]));
}

describe(`bench:rollout on builtin:tiny (${DEVICE})`, () => {
  it('runs the whole engine on a small GRPO-shaped rollout and prints sane figures', async () => {
    const lines: string[] = [];
    const args = [
      '--device',
      DEVICE,
      '--model',
      'builtin:tiny',
      '--prompts',
      '2',
      '--samples',
      '4',
    ];
    args.push('--min-prompt', '16', '--max-prompt', '48', '--max-new-tokens', '24');
    args.push('--reference-steps', '4');
    await runRolloutBench(args, (line) => lines.push(line));
    const row = tableRow(lines);
    const number = (name: string) => Number(row[name]);
    expect(row.model).toBe('builtin:tiny');
    expect(number('requests')).toBe(8);
    // The outputs are as long as drawn: the workload line's total.
    const drawn = Number(/up to 24: (\d+) tokens/.exec(lines.join('\n'))?.[1]);
    expect(number('output tokens')).toBe(drawn);
    for (const name of ['wall s', 'output tok/s', 'step ms', 'forward ms', 'ours / decode'])
      expect(number(name)).toBeGreaterThan(0);
    expect(number('decode tok/s at mean batch, context')).toBeGreaterThan(0);
    // At most the 8 requests run at once; decodes read at least a prompt's 16 tokens.
    expect(number('mean batch')).toBeGreaterThan(0);
    expect(number('mean batch')).toBeLessThanOrEqual(8);
    expect(number('mean decode context')).toBeGreaterThan(16);
    expect(number('mean decode context')).toBeLessThanOrEqual(48 + 24);
    expect(number('in forward %')).toBeGreaterThan(0);
    expect(number('in forward %')).toBeLessThanOrEqual(100);
  }, 30_000);
});
