import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import type { ChatMessage } from '../tokenizer/chat-template.js';
import { HfTokenizer, loadHfTokenizer } from '../tokenizer/hf-tokenizer.js';
import { loadLlama2cTokenizer } from '../tokenizer/llama2c-tokenizer.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

/** A model's tokenizer (null when it has none: then only token ids go in and out) and chat template. */
export interface ModelTokenizer {
  tokenizer: Tokenizer | null;
  applyChatTemplate:
    | ((
        messages: ChatMessage[],
        addGenerationPrompt: boolean,
        variables?: Readonly<Record<string, unknown>>,
      ) => string)
    | null;
}

/**
 * Finds the tokenizer of a model: the byte tokenizer for builtin:tiny, tokenizer.json beside a
 * Hugging Face checkpoint, tokenizer.bin beside a llama2.c one.
 */
export async function loadModelTokenizer(model: string): Promise<ModelTokenizer> {
  if (model === 'builtin:tiny') return { tokenizer: new ByteTokenizer(), applyChatTemplate: null };
  if (existsSync(model) && statSync(model).isDirectory()) {
    if (!existsSync(join(model, 'tokenizer.json')))
      return { tokenizer: null, applyChatTemplate: null };
    const tokenizer = await loadHfTokenizer(model);
    // Its bound on text per token takes a pass over the vocabulary: now, not at the first prompt.
    void tokenizer.maxTextPerToken;
    const template = tokenizer instanceof HfTokenizer && tokenizer.chatTemplate !== null;
    return {
      tokenizer,
      applyChatTemplate: template
        ? (messages, addGenerationPrompt, variables) =>
            tokenizer.applyChatTemplate(messages, {
              addGenerationPrompt,
              ...(variables ? { variables } : {}),
            })
        : null,
    };
  }
  const bin = join(dirname(model), 'tokenizer.bin');
  return {
    tokenizer: existsSync(bin) ? await loadLlama2cTokenizer(bin) : null,
    applyChatTemplate: null,
  };
}
