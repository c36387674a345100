// What the option tables (switches.ts, number-options.ts) share: a declared option's serve flag,
// SGLang's name for it where that differs, its help, and commander's key for each name.

export interface OptionFlag {
  /** The `ts-engine serve` flag, without its dashes. */
  flag: string;
  /** The same flag in SGLang's words, where they differ. */
  sglangFlag?: string;
  help: string;
}

/** The flag's names: ours, then SGLang's. */
export function flagNames(spec: OptionFlag): string[] {
  return [spec.flag, ...(spec.sglangFlag ? [spec.sglangFlag] : [])];
}

/** commander's key for a flag: `--context-length` → `contextLength`, `--no-prefix-cache` → `prefixCache`. */
export function flagKey(flag: string): string {
  return flag.replace(/^no-/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The flags to declare for `spec`, `value` naming its argument: [flag, help] for ours, then SGLang's name. */
export function declaredFlags(spec: OptionFlag, value?: string): [flag: string, help: string][] {
  const argument = value ? ` <${value}>` : '';
  return flagNames(spec).map((name, i) => [
    `--${name}${argument}`,
    i === 0 ? spec.help : `SGLang's name for --${spec.flag}`,
  ]);
}
