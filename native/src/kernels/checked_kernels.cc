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

void checkRotary(const RotaryArgs& a, const char* kernel) {
  Check c(kernel);
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
}

void checkStoreKv(const StoreKvArgs& a, const char* kernel) {
  Check c(kernel);
  c.address(a.kCache, "kCache").address(a.vCache, "vCache").address(a.k, "k").address(a.v, "v");
  c.address(a.slots, "slots");
  c.positive(a.tokens, "tokens").positive(a.kvHeads, "kvHeads").positive(a.headDim, "headDim");
  c.positive(a.pageSize, "pageSize");
  c.atLeast(a.kStride, 1LL * a.kvHeads * a.headDim, "kStride");
  c.atLeast(a.vStride, 1LL * a.kvHeads * a.headDim, "vStride");
  c.dtype(a.dtype);
}

class CheckedKernels final : public Kernels {
 public:
  explicit CheckedKernels(std::unique_ptr<Kernels> inner) : inner_(std::move(inner)) {}

  void embedding(const EmbeddingArgs& a) override {
    Check("embedding").address(a.out, "out").address(a.table, "table").address(a.ids, "ids");
    Check("embedding").positive(a.tokens, "tokens").positive(a.dim, "dim").dtype(a.dtype);
    Check("embedding")
        .that(a.vocabStart >= 0 && a.vocabRows >= 0, "vocabStart and vocabRows must not be negative");
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
    checkRotary(a, "rotary");
    inner_->rotary(a);
  }

  void storeKv(const StoreKvArgs& a) override {
    checkStoreKv(a, "storeKv");
    inner_->storeKv(a);
  }

  void rotaryStoreKv(const RotaryStoreKvArgs& a) override {
    checkRotary(a.rotary, "rotaryStoreKv (rotary)");
    checkStoreKv(a.store, "rotaryStoreKv (store)");
    inner_->rotaryStoreKv(a);
  }

  void attention(const AttentionArgs& a) override {
    Check c("attention");
    c.address(a.out, "out").address(a.q, "q").address(a.kCache, "kCache").address(a.vCache, "vCache");
    c.address(reinterpret_cast<uintptr_t>(a.batch.queryStart), "queryStart");
    c.address(reinterpret_cast<uintptr_t>(a.batch.seqLens), "seqLens");
    c.address(reinterpret_cast<uintptr_t>(a.batch.pageTable), "pageTable");
    c.positive(a.batch.numSeqs, "numSeqs").positive(a.batch.pageTableStride, "pageTableStride");
    c.positive(a.batch.pageSize, "pageSize").positive(a.tokens, "tokens").positive(a.qHeads, "qHeads");
    c.positive(a.kvHeads, "kvHeads").positive(a.headDim, "headDim");
    c.that(a.qHeads % a.kvHeads == 0, "qHeads (" + std::to_string(a.qHeads) + ") must be a multiple of kvHeads (" +
                                          std::to_string(a.kvHeads) + ")");
    c.atLeast(a.qStride, 1LL * a.qHeads * a.headDim, "qStride").finite(a.scale, "scale").dtype(a.dtype);
    inner_->attention(a);
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

  void sample(const SampleArgs& a) override {
    Check c("sample");
    c.address(a.out, "out").address(a.logits, "logits").address(a.temperature, "temperature").address(a.topK, "topK");
    c.address(a.topP, "topP").address(a.randomKeys, "randomKeys").positive(a.rows, "rows").positive(a.vocab, "vocab");
    c.dtype(a.dtype);
    inner_->sample(a);
  }

  void tokenLogprobs(const TokenLogprobsArgs& a) override {
    Check c("tokenLogprobs");
    c.address(a.out, "out").address(a.logits, "logits").address(a.ids, "ids").address(a.temperature, "temperature");
    c.positive(a.rows, "rows").positive(a.vocab, "vocab").dtype(a.dtype);
    inner_->tokenLogprobs(a);
  }

  void addLogitBias(const AddLogitBiasArgs& a) override {
    Check c("addLogitBias");
    c.atLeast(a.count, 0, "count");
    // No pairs read nothing: the addresses may then be 0.
    if (a.count > 0) {
      c.address(a.logits, "logits").address(a.rows, "rows").address(a.ids, "ids").address(a.values, "values");
    }
    c.positive(a.numRows, "numRows").positive(a.vocab, "vocab").dtype(a.dtype);
    inner_->addLogitBias(a);
  }

  void topLogprobs(const TopLogprobsArgs& a) override {
    Check c("topLogprobs");
    c.address(a.outIds, "outIds").address(a.outLogprobs, "outLogprobs").address(a.logits, "logits");
    c.address(a.temperature, "temperature").positive(a.rows, "rows").positive(a.vocab, "vocab");
    int most = a.vocab < 64 ? a.vocab : 64;
    c.that(a.k >= 1 && a.k <= most, "k must be in [1, min(64, vocab)] = [1, " + std::to_string(most) + "], got " +
                                        std::to_string(a.k));
    c.dtype(a.dtype);
    inner_->topLogprobs(a);
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
  int queueDownload(uintptr_t device, size_t bytes) override {
    Check("queueDownload").address(device, "address").positive(static_cast<long long>(bytes), "bytes");
    return inner_->queueDownload(device, bytes);
  }
  void takeDownload(int ticket, void* host, size_t bytes) override {
    Check("takeDownload").that(host != nullptr, "the host buffer is null");
    inner_->takeDownload(ticket, host, bytes);
  }
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
