import { Template } from '@huggingface/jinja';

export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

export interface ChatTemplateOptions {
  /** End with the header that opens the assistant's turn. Default true. */
  readonly addGenerationPrompt?: boolean;
  readonly bosToken?: string | null;
  readonly eosToken?: string | null;
  /** More template variables (tools, enable_thinking, …); they cannot replace the four above. */
  readonly variables?: Readonly<Record<string, unknown>>;
}

/** A compiled chat template (Jinja, as in `tokenizer_config.json`'s `chat_template`). */
export class ChatTemplate {
  private readonly template: Template;

  constructor(readonly source: string) {
    this.template = new Template(source);
  }

  /** Renders `messages` to the prompt text; requires nothing, changes nothing. */
  render(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    return this.template.render({
      ...options.variables,
      messages: messages.map((message) => ({ ...message })),
      add_generation_prompt: options.addGenerationPrompt ?? true,
      bos_token: options.bosToken ?? '',
      eos_token: options.eosToken ?? '',
    });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The `chat_template` of a parsed `tokenizer_config.json`: a string, or a list of
 * `{ name, template }` from which `name` (default "default") is taken. Null when absent.
 */
export function chatTemplateSource(tokenizerConfig: unknown, name = 'default'): string | null {
  const template = isRecord(tokenizerConfig) ? tokenizerConfig.chat_template : undefined;
  if (typeof template === 'string') return template;
  if (!Array.isArray(template)) return null;
  const entry = template.find((item: unknown) => isRecord(item) && item.name === name);
  return isRecord(entry) && typeof entry.template === 'string' ? entry.template : null;
}
