import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES } from '../model/runner.test-helpers.js';

/** The chat template of chatModelDir: `<role>content` per turn, then `<assistant>` (and `<no_think>`). */
const TEMPLATE =
  '{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}' +
  '{% if add_generation_prompt %}<assistant>' +
  '{% if enable_thinking is defined and not enable_thinking %}<no_think>{% endif %}{% endif %}';

/** GPT-2's byte-to-character map of byte-level BPE: printable bytes stand for themselves. */
function byteCharacters(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
  const chars: string[] = [];
  let shifted = 0;
  for (let b = 0; b < 256; b++) chars[b] = String.fromCodePoint(printable(b) ? b : 256 + shifted++);
  return chars;
}

/**
 * The llama fixture (vocabulary 256) with a Hugging Face byte-level tokenizer beside it (token
 * id = byte value, no merges) and TEMPLATE as its chat template: a real model the chat route can
 * render and run.
 */
export function chatModelDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ts-chat-model-'));
  for (const file of ['config.json', 'generation_config.json', 'model.safetensors'])
    symlinkSync(join(FIXTURES, 'llama', file), join(dir, file));
  const byteLevel = {
    type: 'ByteLevel',
    add_prefix_space: false,
    trim_offsets: true,
    use_regex: false,
  };
  const vocab = Object.fromEntries(byteCharacters().map((char, id) => [char, id]));
  const model = {
    type: 'BPE',
    dropout: null,
    unk_token: null,
    fuse_unk: false,
    byte_fallback: false,
    vocab,
    merges: [],
  };
  writeFileSync(
    join(dir, 'tokenizer.json'),
    JSON.stringify({
      version: '1.0',
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: byteLevel,
      post_processor: null,
      decoder: byteLevel,
      model,
    }),
  );
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: TEMPLATE }));
  return dir;
}
