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

  void embedding(uintptr_t out, uintptr_t table, uintptr_t ids, int tokens, int dim, DType dtype) override {
    Check("embedding").address(out, "out").address(table, "table").address(ids, "ids");
    Check("embedding").positive(tokens, "tokens").positive(dim, "dim").dtype(dtype);
    inner_->embedding(out, table, ids, tokens, dim, dtype);
  }

  void rmsNorm(uintptr_t out, uintptr_t x, uintptr_t weight, int rows, int dim, int rowsPerGroup, size_t groupStride,
               float eps, DType dtype) override {
    Check("rmsNorm").address(out, "out").address(x, "x").address(weight, "weight");
    Check("rmsNorm").positive(rows, "rows").positive(dim, "dim").finite(eps, "eps").dtype(dtype);
    Check("rmsNorm")
        .positive(rowsPerGroup, "rowsPerGroup")
        .that(groupStride >= static_cast<size_t>(rowsPerGroup) * dim,
              "groupStride must hold a group: at least rowsPerGroup * dim elements");
    inner_->rmsNorm(out, x, weight, rows, dim, rowsPerGroup, groupStride, eps, dtype);
  }

  void addRmsNorm(uintptr_t out, uintptr_t residual, uintptr_t delta, uintptr_t weight, int rows, int dim, float eps,
                  DType dtype) override {
    Check("addRmsNorm").address(out, "out").address(residual, "residual").address(delta, "delta");
    Check("addRmsNorm").address(weight, "weight");
    Check("addRmsNorm").positive(rows, "rows").positive(dim, "dim").finite(eps, "eps").dtype(dtype);
    Check("addRmsNorm")
        .that(out != residual, "out must differ from residual (residual keeps the sum, out its norm)")
        .that(out != delta, "out must differ from delta");
    inner_->addRmsNorm(out, residual, delta, weight, rows, dim, eps, dtype);
  }

  void add(uintptr_t out, uintptr_t a, uintptr_t b, size_t n, DType dtype) override {
    Check("add").address(out, "out").address(a, "a").address(b, "b").positive(static_cast<long long>(n), "n");
    Check("add").dtype(dtype);
    inner_->add(out, a, b, n, dtype);
  }

  void rotary(uintptr_t q, uintptr_t k, uintptr_t positions, int tokens, int qHeads, int kvHeads, int headDim,
              int rotaryDim, int qStride, int kStride, uintptr_t invFreq, RotaryLayout layout, DType dtype) override {
    Check c("rotary");
    c.address(q, "q").address(k, "k").address(positions, "positions").address(invFreq, "invFreq");
    c.positive(tokens, "tokens").positive(qHeads, "qHeads").positive(kvHeads, "kvHeads").positive(headDim, "headDim");
    c.positive(rotaryDim, "rotaryDim").that(rotaryDim % 2 == 0 && rotaryDim <= headDim,
                                            "rotaryDim must be even and at most headDim (" + std::to_string(headDim) +
                                                "), got " + std::to_string(rotaryDim));
    c.atLeast(qStride, 1LL * qHeads * headDim, "qStride").atLeast(kStride, 1LL * kvHeads * headDim, "kStride");
    c.that(layout == RotaryLayout::HalfSplit || layout == RotaryLayout::Adjacent,
           "layout must be 0 (half-split) or 1 (adjacent), got " + std::to_string(static_cast<int>(layout)));
    c.dtype(dtype);
    inner_->rotary(q, k, positions, tokens, qHeads, kvHeads, headDim, rotaryDim, qStride, kStride, invFreq, layout,
                   dtype);
  }

  void storeKv(uintptr_t kCache, uintptr_t vCache, uintptr_t k, uintptr_t v, uintptr_t slots, int tokens, int kvHeads,
               int headDim, int kStride, int vStride, DType dtype) override {
    Check c("storeKv");
    c.address(kCache, "kCache").address(vCache, "vCache").address(k, "k").address(v, "v").address(slots, "slots");
    c.positive(tokens, "tokens").positive(kvHeads, "kvHeads").positive(headDim, "headDim");
    c.atLeast(kStride, 1LL * kvHeads * headDim, "kStride").atLeast(vStride, 1LL * kvHeads * headDim, "vStride");
    c.dtype(dtype);
    inner_->storeKv(kCache, vCache, k, v, slots, tokens, kvHeads, headDim, kStride, vStride, dtype);
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

  void siluAndMul(uintptr_t out, uintptr_t gateUp, int rows, int inter, DType dtype) override {
    Check("siluAndMul").address(out, "out").address(gateUp, "gateUp").positive(rows, "rows").positive(inter, "inter");
    Check("siluAndMul").dtype(dtype);
    inner_->siluAndMul(out, gateUp, rows, inter, dtype);
  }

  void gemm(uintptr_t out, uintptr_t a, uintptr_t w, uintptr_t bias, int m, int n, int k, DType dtype) override {
    Check("gemm").address(out, "out").address(a, "a").address(w, "w");
    Check("gemm").positive(m, "m").positive(n, "n").positive(k, "k").dtype(dtype);
    inner_->gemm(out, a, w, bias, m, n, k, dtype);
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
