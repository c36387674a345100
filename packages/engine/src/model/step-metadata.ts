import type { ForwardSequence } from './forward-batch.js';

/** The int32 arrays one forward pass reads, built on the host and uploaded in one copy. */
export interface StepMetadata {
  tokens: number;
  numSeqs: number;
  /** Rows of logits the pass computes: each sequence's last token, then the extra rows. */
  logitRows: number;
  pageTableStride: number;
  /** Leading sequences whose token the pass before sampled (`ForwardSequence.inputFrom`). */
  inputFromCount: number;
  /** ids | positions | slots | queryStart | seqLens | logit rows | pageTable | input rows, back to back. */
  data: Int32Array;
  offsets: {
    ids: number;
    positions: number;
    slots: number;
    queryStart: number;
    seqLens: number;
    lastRows: number;
    pageTable: number;
    /** The rows of the pass before holding the first `inputFromCount` sequences' tokens. */
    inputRows: number;
  };
}

/**
 * A fixed shape for a decode step (one token per sequence), so one captured graph serves every
 * batch up to `seqs`: the batch is padded with one-token sequences whose KV write is skipped
 * (slot -1) and whose rows nobody reads, and page tables are `pageTableStride` wide.
 */
export interface DecodePadding {
  seqs: number;
  pageTableStride: number;
}

/** Lays out a batch's metadata; validates what the kernels would otherwise trust. */
export function buildStepMetadata(
  sequences: readonly ForwardSequence[],
  pageSize: number,
  vocabSize: number,
  padding?: DecodePadding,
): StepMetadata {
  if (sequences.length === 0) throw new Error('a forward pass needs at least one sequence');
  const widest = Math.max(...sequences.map((s) => s.pageTable.length));
  if (padding) checkPadding(sequences, widest, padding);
  const numSeqs = padding?.seqs ?? sequences.length;
  const tokens = numSeqs - sequences.length + sequences.reduce((n, s) => n + s.tokens.length, 0);
  const pageTableStride = padding?.pageTableStride ?? widest;
  const extra = sequences.reduce((n, s) => n + extraRowsOf(s), 0);
  const inputFromCount = leadingInputFrom(sequences);
  const offsets = {
    ids: 0,
    positions: tokens,
    slots: 2 * tokens,
    queryStart: 3 * tokens,
    seqLens: 3 * tokens + numSeqs + 1,
    lastRows: 3 * tokens + 2 * numSeqs + 1,
    pageTable: 3 * tokens + 3 * numSeqs + 1 + extra,
    inputRows: 3 * tokens + 3 * numSeqs + 1 + extra + numSeqs * pageTableStride,
  };
  const data = new Int32Array(offsets.inputRows + inputFromCount);
  let row = 0;
  for (const [s, seq] of sequences.entries()) {
    const seqLen = seq.cachedTokens + seq.tokens.length;
    if (seq.tokens.length === 0) throw new Error(`sequence ${s} has no tokens to compute`);
    if (seq.pageTable.length * pageSize < seqLen) {
      throw new Error(
        `sequence ${s} needs ${Math.ceil(seqLen / pageSize)} pages, has ${seq.pageTable.length}`,
      );
    }
    data[offsets.queryStart + s] = row;
    data[offsets.seqLens + s] = seqLen;
    data.set(seq.pageTable, offsets.pageTable + s * pageTableStride);
    if (seq.inputFrom !== undefined) data[offsets.inputRows + s] = seq.inputFrom;
    for (const [i, token] of seq.tokens.entries()) {
      const known = seq.inputFrom === undefined;
      if (known && (!Number.isInteger(token) || token < 0 || token >= vocabSize)) {
        throw new RangeError(`token id ${token} is outside the vocabulary [0, ${vocabSize})`);
      }
      const position = seq.cachedTokens + i;
      data[offsets.ids + row] = known ? token : 0;
      data[offsets.positions + row] = position;
      data[offsets.slots + row] =
        (seq.pageTable[Math.floor(position / pageSize)] as number) * pageSize +
        (position % pageSize);
      row += 1;
    }
    data[offsets.lastRows + s] = row - 1;
  }
  for (let s = sequences.length; s < numSeqs; s++) {
    data[offsets.queryStart + s] = row;
    data[offsets.seqLens + s] = 1;
    data[offsets.slots + row] = -1;
    data[offsets.lastRows + s] = row;
    row += 1;
  }
  data[offsets.queryStart + numSeqs] = tokens;
  let extraRow = offsets.lastRows + numSeqs;
  for (const [s, seq] of sequences.entries()) {
    const first = (data[offsets.queryStart + s] as number) + (seq.extraLogits?.from ?? 0);
    for (let j = 0; j < extraRowsOf(seq); j++) data[extraRow++] = first + j;
  }
  return {
    tokens,
    numSeqs,
    logitRows: numSeqs + extra,
    pageTableStride,
    inputFromCount,
    data,
    offsets,
  };
}

/** How many sequences lead with `inputFrom`; throws if one comes later or is not one token. */
function leadingInputFrom(sequences: readonly ForwardSequence[]): number {
  let count = 0;
  for (const [s, seq] of sequences.entries()) {
    if (seq.inputFrom === undefined) continue;
    if (count !== s)
      throw new Error(
        `sequence ${s} takes its token from the pass before but follows one that does not`,
      );
    if (seq.tokens.length !== 1 || !Number.isInteger(seq.inputFrom) || seq.inputFrom < 0)
      throw new Error(
        `sequence ${s} takes its token from the pass before: it needs one token and a row >= 0`,
      );
    count += 1;
  }
  return count;
}

/** How many extra logits rows a sequence asks for; throws if they are not tokens before its last. */
function extraRowsOf(seq: ForwardSequence): number {
  const e = seq.extraLogits;
  if (!e || e.count === 0) return 0;
  if (!(Number.isInteger(e.from) && Number.isInteger(e.count) && e.from >= 0 && e.count > 0))
    throw new Error(`extraLogits needs whole from >= 0 and count >= 0, got ${e.from}, ${e.count}`);
  if (e.from + e.count > seq.tokens.length - 1) {
    throw new Error(
      `extraLogits [${e.from}, ${e.from + e.count}) must end before the last of ${seq.tokens.length} tokens`,
    );
  }
  return e.count;
}

function checkPadding(sequences: readonly ForwardSequence[], widest: number, p: DecodePadding) {
  if (sequences.some((s) => s.tokens.length !== 1))
    throw new Error('decode padding needs exactly one token per sequence');
  if (p.seqs < sequences.length)
    throw new Error(`cannot pad ${sequences.length} sequences down to ${p.seqs}`);
  if (widest > p.pageTableStride)
    throw new Error(`a sequence holds ${widest} pages, more than the padded ${p.pageTableStride}`);
}
