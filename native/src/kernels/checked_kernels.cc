#include "kernels/checked_kernels.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace ts {
namespace {

class Check {
 public:
  explicit Check(const char* kernel) : kernel_(kernel) {}

  const Check& address(uintptr_t value, const char* name) const {
    if (value == 0) fail(std::string(name) + " must be a device address, got 0");
    return *this;
  }
  const Check& positive(long long value, const char* name) const {
    if (value <= 0) fail(std::string(name) + " must be positive, got " + std::to_string(value));
    return *this;
  }
  const Check& atLeast(long long value, long long minimum, const char* name) const {
    if (value < minimum) {
      fail(std::string(name) + " must be at least " + std::to_string(minimum) + ", got " + std::to_string(value));
    }
    return *this;
  }
  const Check& finite(float value, const char* name) const {
    if (!std::isfinite(value)) fail(std::string(name) + " must be finite, got " + std::to_string(value));
    return *this;
  }
  const Check& dtype(DType value, const char* name = "dtype") const {
    int code = static_cast<int>(value);
    if (code < 0 || code > 2) {
      fail(std::string(name) + " must be 0 (float32), 1 (bfloat16) or 2 (float16), got " + std::to_string(code));
    }
    return *this;
  }
  const Check& that(bool condition, const std::string& message) const {
    if (!condition) fail(message);
    return *this;
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw std::invalid_argument(std::string(kernel_) + ": " + message);
  }
  const char* kernel_;
};

class CheckedKernels final : public Kernels {
 public:
  explicit CheckedKernels(std::unique_ptr<Kernels> inner) : inner_(std::move(inner)) {}

  void embedding(const EmbeddingArgs& a) override {
    Check("embedding").address(a.out, "out").address(a.table, "table").address(a.ids, "ids");
    Check("embedding").positive(a.tokens, "tokens").positive(a.dim, "dim").dtype(a.dtype);
    inner_->embedding(a);
  }

  void rmsNorm(const RmsNormArgs& a) override {
    Check("rmsNorm").address(a.out, "out").address(a.x, "x").address(a.weight, "weight");
    Check("rmsNorm").positive(a.rows, "rows").positive(a.dim, "dim").finite(a.eps, "eps").dtype(a.dtype);
    Check("rmsNorm")
        .positive(a.rowsPerGroup, "rowsPerGroup")
        .that(a.groupStride >= static_cast<size_t>(a.rowsPerGroup) * a.dim,
              "groupStride must hold a group: at least rowsPerGroup * dim elements");
    inner_->rmsNorm(a);
  }

  void addRmsNorm(const AddRmsNormArgs& a) override {
    Check("addRmsNorm").address(a.out, "out").address(a.residual, "residual").address(a.delta, "delta");
    Check("addRmsNorm").address(a.weight, "weight");
    Check("addRmsNorm").positive(a.rows, "rows").positive(a.dim, "dim").finite(a.eps, "eps").dtype(a.dtype);
    Check("addRmsNorm")
        .that(a.out != a.residual, "out must differ from residual (residual keeps the sum, out its norm)")
        .that(a.out != a.delta, "out must differ from delta");
    inner_->addRmsNorm(a);
  }

  void add(uintptr_t out, uintptr_t a, uintptr_t b, size_t n, DType dtype) override {
    Check("add").address(out, "out").address(a, "a").address(b, "b").positive(static_cast<long long>(n), "n");
    Check("add").dtype(dtype);
    inner_->add(out, a, b, n, dtype);
  }

  void rotary(const RotaryArgs& a) override {
    Check c("rotary");
    c.address(a.q, "q").address(a.k, "k").address(a.positions, "positions").address(a.invFreq, "invFreq");
    c.positive(a.tokens, "tokens").positive(a.qHeads, "qHeads").positive(a.kvHeads, "kvHeads");
    c.positive(a.headDim, "headDim");
    c.positive(a.rotaryDim, "rotaryDim")
        .that(a.rotaryDim % 2 == 0 && a.rotaryDim <= a.headDim,
              "rotaryDim must be even and at most headDim (" + std::to_string(a.headDim) + "), got " +
                  std::to_string(a.rotaryDim));
    c.atLeast(a.qStride, 1LL * a.qHeads * a.headDim, "qStride");
    c.atLeast(a.kStride, 1LL * a.kvHeads * a.headDim, "kStride");
    c.that(a.layout == RotaryLayout::HalfSplit || a.layout == RotaryLayout::Adjacent,
           "layout must be 0 (half-split) or 1 (adjacent), got " + std::to_string(static_cast<int>(a.layout)));
    c.dtype(a.dtype);
    inner_->rotary(a);
  }

  void storeKv(const StoreKvArgs& a) override {
    Check c("storeKv");
    c.address(a.kCache, "kCache").address(a.vCache, "vCache").address(a.k, "k").address(a.v, "v");
    c.address(a.slots, "slots");
    c.positive(a.tokens, "tokens").positive(a.kvHeads, "kvHeads").positive(a.headDim, "headDim");
    c.atLeast(a.kStride, 1LL * a.kvHeads * a.headDim, "kStride");
    c.atLeast(a.vStride, 1LL * a.kvHeads * a.headDim, "vStride");
    c.dtype(a.dtype);
    inner_->storeKv(a);
  }

  void attention(uintptr_t out, uintptr_t q, uintptr_t kCache, uintptr_t vCache, const AttentionBatch& batch,
                 int tokens, int qHeads, int kvHeads, int headDim, int qStride, float scale, DType dtype) override {
    Check c("attention");
    c.address(out, "out").address(q, "q").address(kCache, "kCache").address(vCache, "vCache");
    c.address(reinterpret_cast<uintptr_t>(batch.queryStart), "queryStart");
    c.address(reinterpret_cast<uintptr_t>(batch.seqLens), "seqLens");
    c.address(reinterpret_cast<uintptr_t>(batch.pageTable), "pageTable");
    c.positive(batch.numSeqs, "numSeqs").positive(batch.pageTableStride, "pageTableStride");
    c.positive(batch.pageSize, "pageSize").positive(tokens, "tokens").positive(qHeads, "qHeads");
    c.positive(kvHeads, "kvHeads").positive(headDim, "headDim");
    c.that(qHeads % kvHeads == 0, "qHeads (" + std::to_string(qHeads) + ") must be a multiple of kvHeads (" +
                                      std::to_string(kvHeads) + ")");
    c.atLeast(qStride, 1LL * qHeads * headDim, "qStride").finite(scale, "scale").dtype(dtype);
    inner_->attention(out, q, kCache, vCache, batch, tokens, qHeads, kvHeads, headDim, qStride, scale, dtype);
  }

  void siluAndMul(const SiluAndMulArgs& a) override {
    Check("siluAndMul").address(a.out, "out").address(a.gateUp, "gateUp");
    Check("siluAndMul").positive(a.rows, "rows").positive(a.inter, "inter");
    Check("siluAndMul").dtype(a.dtype);
    inner_->siluAndMul(a);
  }

  void gemm(const GemmArgs& args) override {
    Check("gemm").address(args.out, "out").address(args.a, "a").address(args.w, "w");
    Check("gemm").positive(args.m, "m").positive(args.n, "n").positive(args.k, "k").dtype(args.dtype);
    inner_->gemm(args);
  }

  void convert(uintptr_t out, DType outType, uintptr_t in, DType inType, size_t n) override {
    Check("convert").address(out, "out").address(in, "in").positive(static_cast<long long>(n), "n");
    Check("convert").dtype(outType, "outType").dtype(inType, "inType");
    inner_->convert(out, outType, in, inType, n);
  }

  void sample(uintptr_t out, uintptr_t logits, int rows, int vocab, uintptr_t temperature, uintptr_t topK,
              uintptr_t topP, uintptr_t randomKeys, DType dtype) override {
    Check c("sample");
    c.address(out, "out").address(logits, "logits").address(temperature, "temperature").address(topK, "topK");
    c.address(topP, "topP").address(randomKeys, "randomKeys").positive(rows, "rows").positive(vocab, "vocab");
    c.dtype(dtype);
    inner_->sample(out, logits, rows, vocab, temperature, topK, topP, randomKeys, dtype);
  }

  void tokenLogprobs(uintptr_t out, uintptr_t logits, uintptr_t ids, uintptr_t temperature, int rows, int vocab,
                     DType dtype) override {
    Check c("tokenLogprobs");
    c.address(out, "out").address(logits, "logits").address(ids, "ids").address(temperature, "temperature");
    c.positive(rows, "rows").positive(vocab, "vocab").dtype(dtype);
    inner_->tokenLogprobs(out, logits, ids, temperature, rows, vocab, dtype);
  }

  void addLogitBias(uintptr_t logits, uintptr_t rows, uintptr_t ids, uintptr_t values, int count, int numRows,
                    int vocab, DType dtype) override {
    Check c("addLogitBias");
    c.atLeast(count, 0, "count");
    // No pairs read nothing: the addresses may then be 0.
    if (count > 0) c.address(logits, "logits").address(rows, "rows").address(ids, "ids").address(values, "values");
    c.positive(numRows, "numRows").positive(vocab, "vocab").dtype(dtype);
    inner_->addLogitBias(logits, rows, ids, values, count, numRows, vocab, dtype);
  }

  void topLogprobs(uintptr_t outIds, uintptr_t outLogprobs, uintptr_t logits, uintptr_t temperature, int rows,
                   int vocab, int k, DType dtype) override {
    Check c("topLogprobs");
    c.address(outIds, "outIds").address(outLogprobs, "outLogprobs").address(logits, "logits");
    c.address(temperature, "temperature").positive(rows, "rows").positive(vocab, "vocab");
    int most = vocab < 64 ? vocab : 64;
    c.that(k >= 1 && k <= most, "k must be in [1, min(64, vocab)] = [1, " + std::to_string(most) + "], got " +
                                    std::to_string(k));
    c.dtype(dtype);
    inner_->topLogprobs(outIds, outLogprobs, logits, temperature, rows, vocab, k, dtype);
  }

  void upload(uintptr_t device, const void* host, size_t bytes) override {
    if (bytes == 0) return;
    Check("upload").address(device, "address").that(host != nullptr, "the host buffer is null");
    inner_->upload(device, host, bytes);
  }

  void download(void* host, uintptr_t device, size_t bytes) override {
    if (bytes == 0) return;
    Check("download").address(device, "address").that(host != nullptr, "the host buffer is null");
    inner_->download(host, device, bytes);
  }

  void synchronize() override { inner_->synchronize(); }
  void trimScratch() override { inner_->trimScratch(); }
  size_t scratchBytes(int maxTokens, int group) const override {
    Check("scratchBytes").positive(maxTokens, "maxTokens").positive(group, "group");
    return inner_->scratchBytes(maxTokens, group);
  }
  void useScratch(uintptr_t address, size_t bytes) override {
    if (address == 0 && bytes > 0) throw std::invalid_argument("useScratch: address is 0");
    inner_->useScratch(address, bytes);
  }
  void forgetScratch(uintptr_t begin, uintptr_t end) override { inner_->forgetScratch(begin, end); }
  void scratchMapped(uintptr_t begin, uintptr_t end, bool mapped) override {
    inner_->scratchMapped(begin, end, mapped);
  }
  bool canCapture() const override { return inner_->canCapture(); }
  void beginCapture() override { inner_->beginCapture(); }
  int endCapture() override { return inner_->endCapture(); }
  bool replay(int graph) override { return inner_->replay(graph); }
  void dropGraphs() override { inner_->dropGraphs(); }

 private:
  std::unique_ptr<Kernels> inner_;
};

}  // namespace

std::unique_ptr<Kernels> withArgumentChecks(std::unique_ptr<Kernels> inner) {
  return std::make_unique<CheckedKernels>(std::move(inner));
}

}  // namespace ts
