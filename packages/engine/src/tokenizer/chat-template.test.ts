import { describe, expect, it } from 'vitest';
import { ChatTemplate, chatTemplateSource } from './chat-template.js';
import { loadHfTokenizer } from './hf-tokenizer.js';
import { lenmlModelDir } from './tokenizer.test-helpers.js';

const messages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hi!' },
];

describe('chat templates', () => {
  it('renders Llama 3: BOS and the system header first, the assistant header last', async () => {
    const llama3 = await loadHfTokenizer(lenmlModelDir('llama3'));
    const text = llama3.applyChatTemplate(messages);
    expect(text).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    const ids = llama3.encode(text, { addSpecialTokens: false });
    expect(ids.slice(0, 2)).toEqual([128000, 128006]);
    expect(ids.at(-1)).toBe(271);
  });

  it('renders Qwen3 with and without the generation prompt and thinking', async () => {
    const qwen3 = await loadHfTokenizer(lenmlModelDir('qwen3'));
    const text = qwen3.applyChatTemplate(messages);
    expect(
      text.startsWith('<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi!'),
    ).toBe(true);
    expect(text.endsWith('<|im_end|>\n<|im_start|>assistant\n')).toBe(true);
    const noThinking = qwen3.applyChatTemplate(messages, { variables: { enable_thinking: false } });
    expect(noThinking.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n')).toBe(true);
    const closed = qwen3.applyChatTemplate(messages, { addGenerationPrompt: false });
    expect(closed.endsWith('Hi!<|im_end|>\n')).toBe(true);
  });

  it('passes bos_token and eos_token, defaulting to empty strings', () => {
    const template = new ChatTemplate(
      '{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}{% endfor %}',
    );
    expect(template.render(messages.slice(1), { bosToken: '<s>', eosToken: '</s>' })).toBe(
      '<s>[user]Hi!</s>',
    );
    expect(template.render(messages.slice(1))).toBe('[user]Hi!');
  });

  it('reads chat_template as a string or a named list', () => {
    expect(chatTemplateSource({ chat_template: 'x' })).toBe('x');
    const named = {
      chat_template: [
        { name: 'tool_use', template: 't' },
        { name: 'default', template: 'd' },
      ],
    };
    expect(chatTemplateSource(named)).toBe('d');
    expect(chatTemplateSource(named, 'tool_use')).toBe('t');
    expect(chatTemplateSource(named, 'rag')).toBeNull();
    expect(chatTemplateSource({})).toBeNull();
    expect(chatTemplateSource(null)).toBeNull();
  });
});
