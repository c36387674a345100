// The model runtime's kernel interface: one implementation per backend (CPU, CUDA), chosen
// with the device. Every pointer is a device address (host memory on the CPU backend);
// every tensor is contiguous row-major unless a row stride (in elements) is given. Activations
// and weights share one dtype per engine; metadata arrays are int32 / float32 / uint64 as named.
// Calls are ordered on the device's stream; nothing here synchronizes unless it says so.
// Bad arguments throw at the call; bad content of device arrays (a negative id, attention
// metadata) throws there on the CPU, and on CUDA at the next download or synchronize.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ts {

enum class DType : int { F32 = 0, BF16 = 1, F16 = 2 };

size_t dtypeSize(DType dtype);

// Rotary layouts: Hugging Face rotates (x[i], x[i + rotaryDim/2]); llama2.c / Meta rotate
// adjacent pairs (x[2i], x[2i+1]).
enum class RotaryLayout : int { HalfSplit = 0, Adjacent = 1 };

struct AttentionBatch {
  int numSeqs;
  const int32_t* queryStart;  // [numSeqs + 1] cumulative query-token counts (prefix sums)
  const int32_t* seqLens;     // [numSeqs] tokens in the KV cache after this step (cached + new)
  const int32_t* pageTable;   // [numSeqs, pageTableStride] page indices
  int pageTableStride;
  int pageSize;               // tokens per page; slot = page * pageSize + offset
  // The metadata and shape are those of the previous attention call, and nothing wrote the
  // metadata since (the layers of one forward pass): a backend may reuse that call's work plan
  // and checks. A backend that cannot tell a mismatch from its arguments plans again.
  bool reusePlan = false;
};
template <typename F>
void fields(AttentionBatch& b, F&& f) {
  f("numSeqs", b.numSeqs), f("queryStart", b.queryStart), f("seqLens", b.seqLens), f("pageTable", b.pageTable);
  f("pageTableStride", b.pageTableStride), f("pageSize", b.pageSize), f("reusePlan", b.reusePlan);
}

// One argument struct per kernel, the same fields as the kernel's TypeScript arguments
// (packages/memory-saver-native/src/kernel-args.ts); every backend takes it (CPU, CUDA, the
// shared checks, graph recording). `fields(args, visit)`, beside each struct, calls
// visit(name, field) for every field in declaration order: the addon reads a JS object into the
// struct with it (ops_addon.cc), so the fields are listed here and nowhere else in C++. A field
// added to a struct goes into its `fields` too.

struct EmbeddingArgs {
  uintptr_t out, table, ids;  // ids: int32 [tokens]
  int tokens, dim;
  DType dtype;
  // A vocabulary shard (tensor parallel; CPU only): `table` holds rows [vocabStart,
  // vocabStart + vocabRows), and ids outside them give zero rows. vocabRows 0: the whole table.
  int vocabStart, vocabRows;
};
template <typename F>
void fields(EmbeddingArgs& a, F&& f) {
  f("out", a.out), f("table", a.table), f("ids", a.ids), f("tokens", a.tokens), f("dim", a.dim), f("dtype", a.dtype);
  f("vocabStart", a.vocabStart), f("vocabRows", a.vocabRows);
}

struct RmsNormArgs {
  uintptr_t out, x, weight;
  int rows, dim, rowsPerGroup;
  size_t groupStride;
  float eps;
  DType dtype;
};
template <typename F>
void fields(RmsNormArgs& a, F&& f) {
  f("out", a.out), f("x", a.x), f("weight", a.weight), f("rows", a.rows), f("dim", a.dim);
  f("rowsPerGroup", a.rowsPerGroup), f("groupStride", a.groupStride), f("eps", a.eps), f("dtype", a.dtype);
}

struct AddRmsNormArgs {
  uintptr_t out, residual, delta, weight;
  int rows, dim;
  float eps;
  DType dtype;
};
template <typename F>
void fields(AddRmsNormArgs& a, F&& f) {
  f("out", a.out), f("residual", a.residual), f("delta", a.delta), f("weight", a.weight), f("rows", a.rows);
  f("dim", a.dim), f("eps", a.eps), f("dtype", a.dtype);
}

struct RotaryArgs {
  uintptr_t q, k, positions;  // positions: int32 [tokens]
  int tokens, qHeads, kvHeads, headDim, rotaryDim, qStride, kStride;
  uintptr_t invFreq;  // float32 [rotaryDim / 2]
  RotaryLayout layout;
  DType dtype;
};
template <typename F>
void fields(RotaryArgs& a, F&& f) {
  f("q", a.q), f("k", a.k), f("positions", a.positions), f("tokens", a.tokens), f("qHeads", a.qHeads);
  f("kvHeads", a.kvHeads), f("headDim", a.headDim), f("rotaryDim", a.rotaryDim), f("qStride", a.qStride);
  f("kStride", a.kStride), f("invFreq", a.invFreq), f("layout", a.layout), f("dtype", a.dtype);
}

struct StoreKvArgs {
  uintptr_t kCache, vCache, k, v, slots;  // slots: int32 [tokens]
  int tokens, kvHeads, headDim, kStride, vStride, pageSize;
  DType dtype;
};
template <typename F>
void fields(StoreKvArgs& a, F&& f) {
  f("kCache", a.kCache), f("vCache", a.vCache), f("k", a.k), f("v", a.v), f("slots", a.slots), f("tokens", a.tokens);
  f("kvHeads", a.kvHeads), f("headDim", a.headDim), f("kStride", a.kStride), f("vStride", a.vStride);
  f("pageSize", a.pageSize), f("dtype", a.dtype);
}

// A decoder layer's rotary, then its KV store.
struct RotaryStoreKvArgs {
  RotaryArgs rotary;
  StoreKvArgs store;
};
template <typename F>
void fields(RotaryStoreKvArgs& a, F&& f) {
  f("rotary", a.rotary), f("store", a.store);
}

// batchInvariant: each query row's bits independent of the batch, of how many query rows its
// sequence has in it and of the cached prefix: keys in fixed chunks, merged in one order.
struct AttentionArgs {
  uintptr_t out, q, kCache, vCache;
  AttentionBatch batch;
  int tokens, qHeads, kvHeads, headDim, qStride;
  float scale;
  DType dtype;
  bool batchInvariant;
};
template <typename F>
void fields(AttentionArgs& a, F&& f) {
  f("out", a.out), f("q", a.q), f("kCache", a.kCache), f("vCache", a.vCache), f("batch", a.batch);
  f("tokens", a.tokens), f("qHeads", a.qHeads), f("kvHeads", a.kvHeads), f("headDim", a.headDim);
  f("qStride", a.qStride), f("scale", a.scale), f("dtype", a.dtype), f("batchInvariant", a.batchInvariant);
}

struct SiluAndMulArgs {
  uintptr_t out, gateUp;
  int rows, inter;
  DType dtype;
};
template <typename F>
void fields(SiluAndMulArgs& a, F&& f) {
  f("out", a.out), f("gateUp", a.gateUp), f("rows", a.rows), f("inter", a.inter), f("dtype", a.dtype);
}

// batchInvariant: each row's bits independent of m (issue 17's deterministic mode).
struct GemmArgs {
  uintptr_t out, a, w, bias;  // bias: 0 = none
  int m, n, k;
  DType dtype;
  bool batchInvariant;
};
template <typename F>
void fields(GemmArgs& a, F&& f) {
  f("out", a.out), f("a", a.a), f("w", a.w), f("bias", a.bias), f("m", a.m), f("n", a.n), f("k", a.k);
  f("dtype", a.dtype), f("batchInvariant", a.batchInvariant);
}

struct SampleArgs {
  uintptr_t out, logits;  // out: int32 [rows]
  int rows, vocab;
  uintptr_t temperature, topK, topP, randomKeys;  // float32, int32, float32, uint64 [rows]
  DType dtype;
};
template <typename F>
void fields(SampleArgs& a, F&& f) {
  f("out", a.out), f("logits", a.logits), f("rows", a.rows), f("vocab", a.vocab), f("temperature", a.temperature);
  f("topK", a.topK), f("topP", a.topP), f("randomKeys", a.randomKeys), f("dtype", a.dtype);
}

struct TokenLogprobsArgs {
  uintptr_t out, logits, ids, temperature;  // out, temperature: float32 [rows]; ids: int32 [rows]
  int rows, vocab;
  DType dtype;
};
template <typename F>
void fields(TokenLogprobsArgs& a, F&& f) {
  f("out", a.out), f("logits", a.logits), f("ids", a.ids), f("temperature", a.temperature), f("rows", a.rows);
  f("vocab", a.vocab), f("dtype", a.dtype);
}

struct AddLogitBiasArgs {
  uintptr_t logits, rows, ids, values;  // rows, ids: int32 [count]; values: float32 [count]
  int count, numRows, vocab;
  DType dtype;
};
template <typename F>
void fields(AddLogitBiasArgs& a, F&& f) {
  f("logits", a.logits), f("rows", a.rows), f("ids", a.ids), f("values", a.values), f("count", a.count);
  f("numRows", a.numRows), f("vocab", a.vocab), f("dtype", a.dtype);
}

struct TopLogprobsArgs {
  uintptr_t outIds, outLogprobs, logits, temperature;  // int32 [rows, k], float32 [rows, k], -, float32 [rows]
  int rows, vocab, k;
  DType dtype;
};
template <typename F>
void fields(TopLogprobsArgs& a, F&& f) {
  f("outIds", a.outIds), f("outLogprobs", a.outLogprobs), f("logits", a.logits), f("temperature", a.temperature);
  f("rows", a.rows), f("vocab", a.vocab), f("k", a.k), f("dtype", a.dtype);
}

class Kernels {
 public:
  virtual ~Kernels() = default;

  // out[t, :] = table[ids[t], :]; ids: int32 [tokens].
  virtual void embedding(const EmbeddingArgs& a) = 0;

  // out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight; out may equal x. Rows come in
  // groups of rowsPerGroup contiguous rows, groupStride elements apart (row r starts at
  // (r / rowsPerGroup) * groupStride + (r % rowsPerGroup) * dim; contiguous rows: rowsPerGroup =
  // rows, groupStride = rows * dim). Per-head norms of q inside a fused qkv row use it.
  virtual void rmsNorm(const RmsNormArgs& a) = 0;

  // residual[r, :] += delta[r, :] (stored in dtype), then out[r, :] = rmsNorm(residual[r, :]) * weight,
  // as add then rmsNorm would give: a decoder layer's residual add and the next norm in one pass.
  // Rows are contiguous; out must differ from residual and delta.
  virtual void addRmsNorm(const AddRmsNormArgs& a) = 0;

  // out = a + b over n elements; out may equal a or b.
  virtual void add(uintptr_t out, uintptr_t a, uintptr_t b, size_t n, DType dtype) = 0;

  // Rotates q [tokens, qHeads * headDim] (row stride qStride) and k (kvHeads, row stride kStride)
  // in place at positions (int32 [tokens]), over the first rotaryDim dims of each head, with
  // invFreq (float32 [rotaryDim / 2]): angle = position * invFreq[i].
  virtual void rotary(const RotaryArgs& a) = 0;

  // Writes each token's k and v rows (kvHeads * headDim, row strides kStride / vStride) into
  // the caches at slots (int32 [tokens]), laid out as kv_layout.h says (pages of pageSize slots,
  // [kv head][slot][headDim] each); a negative slot skips its token.
  virtual void storeKv(const StoreKvArgs& a) = 0;

  // rotary(a.rotary) then storeKv(a.store), with the same result; a backend may do both in one
  // pass where store.k is rotary.k.
  virtual void rotaryStoreKv(const RotaryStoreKvArgs& a) {
    rotary(a.rotary);
    storeKv(a.store);
  }

  // Causal attention of a batch of sequences over their paged KV (kv_layout.h, batch.pageSize
  // slots a page). Query token i of sequence s
  // (of qLen = queryStart[s+1] - queryStart[s]) sits at position seqLens[s] - qLen + i and sees
  // keys 0..position. Covers prefill, prefill after a cached prefix, and decode (qLen = 1).
  // q: [tokens, qHeads * headDim] (row stride qStride); out: [tokens, qHeads * headDim].
  // Grouped-query: query head h reads kv head h / (qHeads / kvHeads).
  virtual void attention(const AttentionArgs& a) = 0;

  // out[r, :] = silu(gateUp[r, :inter]) * gateUp[r, inter:]; gateUp: [rows, 2 * inter].
  virtual void siluAndMul(const SiluAndMulArgs& a) = 0;

  // out[m, n] = a[m, k] · w[n, k]ᵀ (+ bias[n] when bias != 0): a Linear with Hugging Face's
  // [out, in] weight layout. Accumulates in float32.
  virtual void gemm(const GemmArgs& args) = 0;

  // Converts n elements between dtypes (e.g. logits to float32 for the host).
  virtual void convert(uintptr_t out, DType outType, uintptr_t in, DType inType, size_t n) = 0;

  // One token per row of logits [rows, vocab]: greedy where temperature[r] <= 0, else sampled
  // from softmax(logits / temperature) restricted to the topK[r] (0 = all) most likely tokens
  // and to the smallest set whose probability reaches topP[r] (1 = all), with a uniform draw
  // made from randomKeys[r] (uint64) alone, so a given key always picks the same token.
  // temperature, topP: float32 [rows]; topK: int32 [rows]; out: int32 [rows]. The exact rules (ranking,
  // the draw from the key) are in kernels/sampling.h, shared by every backend.
  virtual void sample(const SampleArgs& a) = 0;

  // out[r] = the log-probability of token ids[r] in row r of logits [rows, vocab]: under
  // softmax(logits[r, :] / temperature[r]) where temperature[r] > 0 (the distribution `sample`
  // draws from, before any top-k / top-p cut), else under softmax(logits[r, :]). Float32 math,
  // the maximum subtracted first. ids: int32 [rows] (in [0, vocab), else a content error);
  // temperature, out: float32 [rows].
  virtual void tokenLogprobs(const TokenLogprobsArgs& a) = 0;

  // logits[rows[i], ids[i]] += values[i] for i < count (computed in float32, stored in dtype;
  // -infinity bans a token): logit bias and banned tokens before sampling. rows, ids: int32
  // [count]; values: float32 [count]. A pair outside [0, numRows) x [0, vocab) is a content error.
  virtual void addLogitBias(const AddLogitBiasArgs& a) = 0;

  // For each row r of logits [rows, vocab]: its k most likely tokens under
  // softmax(logits[r, :] / temperature[r]) (temperature[r] <= 0: softmax(logits[r, :])), ordered
  // by logit descending, then id ascending; outIds: int32 [rows, k], outLogprobs: float32
  // [rows, k], their log-probabilities computed as tokenLogprobs does. 1 <= k <= min(64, vocab).
  virtual void topLogprobs(const TopLogprobsArgs& a) = 0;

  // Host <-> device copies of raw ranges (metadata each step, logits for tests). The host
  // memory may be reused at once; a download returns with the data, an upload may only be
  // queued (ahead of the kernels that read it).
  virtual void upload(uintptr_t device, const void* host, size_t bytes) = 0;
  virtual void download(void* host, uintptr_t device, size_t bytes) = 0;
  virtual void synchronize() = 0;
  // A download that does not wait: the copy of `bytes` at `device` is queued behind every call so
  // far, into host memory the kernels own, and its ticket returned; takeDownload(ticket) waits for
  // that copy alone (not for calls queued after it) and hands the bytes over, once. At most
  // kQueuedDownloads (queued_downloads.h) are queued and not taken at a time.
  virtual int queueDownload(uintptr_t device, size_t bytes) = 0;
  virtual void takeDownload(int ticket, void* host, size_t bytes) = 0;

  // Gives back scratch memory the kernels keep between calls (the cuBLAS workspace, attention
  // scratch), after synchronizing; it is taken again on the next call that needs it. The saver
  // calls it on every pause, so a released engine holds as little as it can.
  virtual void trimScratch() {}

  // The most scratch the kernels use for batches of up to `maxTokens` tokens with `group` query
  // heads per KV head (0 where they keep none between calls).
  virtual size_t scratchBytes(int /*maxTokens*/, int /*group*/) const { return 0; }
  // Scratch at a fixed place from now on (`bytes` at least scratchBytes of the largest batch to
  // come), e.g. memory of a releasable tag that a resume maps again at the same address: then
  // trimScratch leaves it, and every graph, alone. A call that would need more throws.
  // forgetScratch(begin, end) goes back to the kernels' own scratch when it lay in that range
  // (the saver calls it before freeing the memory), dropping every graph.
  virtual void useScratch(uintptr_t /*address*/, size_t /*bytes*/) {}
  virtual void forgetScratch(uintptr_t /*begin*/, uintptr_t /*end*/) {}
  // Whether [begin, end) is mapped (the saver says so as it unmaps and maps memory): a call
  // that needs scratch given with useScratch while it is unmapped throws instead of faulting.
  virtual void scratchMapped(uintptr_t /*begin*/, uintptr_t /*end*/, bool /*mapped*/) {}

  // Captured graphs (CUDA): the kernel calls between beginCapture and endCapture are recorded,
  // not run, and replay(graph) runs them again with the arguments they were given, reading
  // device arrays (metadata) as they are at replay. endCapture returns the graph's id, or -1
  // when the capture failed (nothing is kept, the stream is usable again). A graph stays valid
  // while every address it read stays valid: scratch that moves, and trimScratch unless the
  // scratch was given with useScratch, drop every graph, and replay of a dropped id returns
  // false (capture again). Ids are never reused.
  // Backends without graphs answer canCapture() false and throw on beginCapture (the CPU
  // backend records its calls: kernels/cpu/recording_kernels.h).
  virtual bool canCapture() const { return false; }
  virtual void beginCapture();
  virtual int endCapture() { return -1; }
  virtual bool replay(int /*graph*/) { return false; }
  virtual void dropGraphs() {}
};

}  // namespace ts
