#include "kernels/cpu/recording_kernels.h"

#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ts::cpu {
namespace {

using Graph = std::vector<std::function<void()>>;

class RecordingKernels final : public Kernels {
 public:
  explicit RecordingKernels(std::unique_ptr<Kernels> inner) : inner_(std::move(inner)) {}

  void embedding(const EmbeddingArgs& a) override {
    run([=, this] { inner_->embedding(a); });
  }
  void rmsNorm(const RmsNormArgs& a) override {
    run([=, this] { inner_->rmsNorm(a); });
  }
  void addRmsNorm(const AddRmsNormArgs& a) override {
    run([=, this] { inner_->addRmsNorm(a); });
  }
  void add(uintptr_t out, uintptr_t a, uintptr_t b, size_t n, DType dtype) override {
    run([=, this] { inner_->add(out, a, b, n, dtype); });
  }
  void rotary(const RotaryArgs& a) override {
    run([=, this] { inner_->rotary(a); });
  }
  void storeKv(const StoreKvArgs& a) override {
    run([=, this] { inner_->storeKv(a); });
  }
  void rotaryStoreKv(const RotaryStoreKvArgs& a) override {
    run([=, this] { inner_->rotaryStoreKv(a); });
  }
  void attention(const AttentionArgs& a) override {
    run([=, this] { inner_->attention(a); });
  }
  void siluAndMul(const SiluAndMulArgs& a) override {
    run([=, this] { inner_->siluAndMul(a); });
  }
  void gemm(const GemmArgs& a) override {
    run([=, this] { inner_->gemm(a); });
  }
  void convert(uintptr_t out, DType outType, uintptr_t in, DType inType, size_t n) override {
    run([=, this] { inner_->convert(out, outType, in, inType, n); });
  }
  void sample(const SampleArgs& a) override {
    run([=, this] { inner_->sample(a); });
  }
  void tokenLogprobs(const TokenLogprobsArgs& a) override {
    run([=, this] { inner_->tokenLogprobs(a); });
  }
  void addLogitBias(const AddLogitBiasArgs& a) override {
    run([=, this] { inner_->addLogitBias(a); });
  }
  void topLogprobs(const TopLogprobsArgs& a) override {
    run([=, this] { inner_->topLogprobs(a); });
  }

  void upload(uintptr_t device, const void* host, size_t bytes) override {
    idle("upload");
    inner_->upload(device, host, bytes);
  }
  void download(void* host, uintptr_t device, size_t bytes) override {
    idle("download");
    inner_->download(host, device, bytes);
  }
  void synchronize() override {
    idle("synchronize");
    inner_->synchronize();
  }
  int queueDownload(uintptr_t device, size_t bytes) override {
    idle("queueDownload");
    return inner_->queueDownload(device, bytes);
  }
  void takeDownload(int ticket, void* host, size_t bytes) override {
    idle("takeDownload");
    inner_->takeDownload(ticket, host, bytes);
  }
  // The CPU kernels keep no scratch between calls: once the owner has said where scratch
  // lives (useScratch, as on CUDA), graphs survive a pause as they do there.
  void trimScratch() override {
    if (!scratchFixed_) dropGraphs();
    inner_->trimScratch();
  }
  void useScratch(uintptr_t, size_t) override {
    if (recording_) throw std::logic_error("useScratch: not during a capture");
    scratchFixed_ = true;
  }
  void forgetScratch(uintptr_t, uintptr_t) override {
    scratchFixed_ = false;
    dropGraphs();
  }

  bool canCapture() const override { return true; }
  void beginCapture() override {
    if (recording_) throw std::logic_error("beginCapture: a capture is already open");
    recording_.emplace();
  }
  int endCapture() override {
    if (!recording_) throw std::logic_error("endCapture: no capture is open");
    int id = nextGraph_++;
    graphs_.emplace(id, std::move(*recording_));
    recording_.reset();
    return id;
  }
  bool replay(int graph) override {
    auto found = graphs_.find(graph);
    if (found == graphs_.end()) return false;
    for (const auto& call : found->second) call();
    return true;
  }
  void dropGraphs() override { graphs_.clear(); }

 private:
  template <typename F>
  void run(F call) {
    if (recording_) recording_->push_back(std::move(call));
    else call();
  }
  void idle(const char* call) const {
    if (recording_) throw std::logic_error(std::string(call) + ": no host copies or waits during a capture");
  }

  std::unique_ptr<Kernels> inner_;
  std::optional<Graph> recording_;
  std::map<int, Graph> graphs_;
  int nextGraph_ = 0;
  bool scratchFixed_ = false;
};

}  // namespace

std::unique_ptr<Kernels> withRecording(std::unique_ptr<Kernels> inner) {
  return std::make_unique<RecordingKernels>(std::move(inner));
}

}  // namespace ts::cpu
