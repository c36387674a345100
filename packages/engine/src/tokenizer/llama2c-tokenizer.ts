import { readFile } from 'node:fs/promises';
import { CheckpointError } from '../model/loader/checkpoint-error.js';
import { mergeByScore } from './bpe-merge.js';
import { createWindowStreamDecoder } from './stream-decoder.js';
import type { DecodeOptions, EncodeOptions, StreamDecoder, Tokenizer } from './tokenizer.js';

/** One vocabulary entry of a llama2.c `tokenizer.bin`. */
export interface Llama2cPiece {
  readonly bytes: Uint8Array;
  readonly score: number;
}

const UNK = 0;
const BOS = 1;
const EOS = 2;
const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

/** Bytes as a string of code units 0–255: an exact, hashable key for a piece. */
function key(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/**
 * Parses `tokenizer.bin`: int32 max_token_length, then per token float32 score, int32 length and
 * the piece's bytes. Reads `vocabSize` entries when given (as run.c does), else to the end.
 */
export function parseLlama2cTokenizer(
  bytes: Uint8Array,
  source: string,
  vocabSize?: number,
): Llama2cPiece[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (what: string): never => {
    throw new CheckpointError(`${source}: ${what}`);
  };
  if (bytes.byteLength < 4) fail('too short for a llama2.c tokenizer');
  const maxLength = view.getInt32(0, true);
  const pieces: Llama2cPiece[] = [];
  let at = 4;
  while (vocabSize === undefined ? at < bytes.byteLength : pieces.length < vocabSize) {
    if (at + 8 > bytes.byteLength) fail(`truncated in the header of token ${pieces.length}`);
    const score = view.getFloat32(at, true);
    const length = view.getInt32(at + 4, true);
    if (length < 0 || length > maxLength)
      fail(`token ${pieces.length} has length ${length} (max ${maxLength})`);
    if (at + 8 + length > bytes.byteLength)
      fail(`truncated in the bytes of token ${pieces.length}`);
    pieces.push({ score, bytes: bytes.slice(at + 8, at + 8 + length) });
    at += 8 + length;
  }
  if (pieces.length <= EOS) fail(`has ${pieces.length} tokens; needs at least <unk>, <s>, </s>`);
  return pieces;
}

/**
 * llama2.c's SentencePiece-style tokenizer (`tokenizer.bin`), encoding as run.c does: a dummy
 * prefix " " token, one token per UTF-8 character or `<0xXX>` byte tokens when the character is
 * no token, then merges by score. Ids 0, 1, 2 are <unk>, BOS and EOS (the special tokens).
 * Decoding strips the leading space of the token after BOS and turns `<0xXX>` into its byte.
 */
export class Llama2cTokenizer implements Tokenizer {
  readonly bosTokenId = BOS;
  readonly eosTokenIds: readonly number[] = [EOS];
  readonly vocabSize: number;
  /** A token covers at most its piece's bytes (a `<0xXX>` piece one byte), a UTF-16 unit one or more. */
  readonly maxTextPerToken: number;
  private readonly ids = new Map<string, number>();
  private readonly keys: string[];
  private readonly scores: Float32Array;
  private readonly decoded: Uint8Array[];

  constructor(pieces: readonly Llama2cPiece[]) {
    this.vocabSize = pieces.length;
    this.maxTextPerToken = pieces.reduce(
      (most, piece) => Math.max(most, piece.bytes.byteLength),
      1,
    );
    this.keys = pieces.map((piece) => key(piece.bytes));
    this.scores = Float32Array.from(pieces, (piece) => piece.score);
    this.keys.forEach((k, id) => {
      if (!this.ids.has(k)) this.ids.set(k, id);
    });
    this.decoded = pieces.map((piece, id) => {
      const byte = BYTE_PIECE.exec(this.keys[id] as string);
      return byte === null ? piece.bytes : Uint8Array.of(Number.parseInt(byte[1] as string, 16));
    });
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const tokens: number[] = [];
    if (options.addSpecialTokens ?? true) tokens.push(BOS);
    const bytes = new TextEncoder().encode(text);
    if (bytes.length > 0) {
      const space = this.ids.get(' ');
      if (space !== undefined) tokens.push(space);
    }
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      const following = bytes[i + 1];
      const continues = following !== undefined && (following & 0xc0) === 0x80;
      if (continues && i + 1 - start < 4) continue;
      const char = bytes.subarray(start, i + 1);
      const id = this.ids.get(key(char));
      if (id !== undefined) tokens.push(id);
      else for (const byte of char) tokens.push(this.byteToken(byte));
      start = i + 1;
    }
    return mergeByScore(
      tokens,
      (left, right) =>
        this.ids.get((this.keys[left] as string) + (this.keys[right] as string)) ?? -1,
      (id) => this.scores[id] as number,
    );
  }

  private byteToken(byte: number): number {
    const id = this.ids.get(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`);
    if (id === undefined)
      throw new Error(`llama2.c tokenizer has no byte token for 0x${byte.toString(16)}`);
    return id;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const parts: Uint8Array[] = [];
    let previous = -1;
    for (const id of ids) {
      const piece = this.decoded[id];
      if (piece === undefined) {
        throw new RangeError(
          `llama2.c tokenizer: token id ${id} is outside the vocabulary (${this.vocabSize})`,
        );
      }
      const skip = options.skipSpecialTokens === true && (id === UNK || id === BOS || id === EOS);
      if (!skip) parts.push(previous === BOS && piece[0] === 0x20 ? piece.subarray(1) : piece);
      previous = id;
    }
    return new TextDecoder().decode(Buffer.concat(parts));
  }

  createStreamDecoder(options: DecodeOptions = {}): StreamDecoder {
    return createWindowStreamDecoder((ids) => this.decode(ids, options));
  }
}

/** Reads a `tokenizer.bin`; `vocabSize` (from the checkpoint) limits how many entries are read. */
export async function loadLlama2cTokenizer(
  path: string,
  vocabSize?: number,
): Promise<Llama2cTokenizer> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new CheckpointError(`${path}: cannot read the tokenizer`, { cause: error });
  }
  return new Llama2cTokenizer(parseLlama2cTokenizer(bytes, path, vocabSize));
}
