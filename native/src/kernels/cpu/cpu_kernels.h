// The CPU backend of the model kernels: host memory, float32 math, the shared thread pool.
// Each operation's body lives in its own file (embedding.cc, rms_norm.cc, ...). Arguments are
// assumed checked by withArgumentChecks; content checks (ids, metadata) are made here.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/queued_downloads.h"

namespace ts::cpu {

class CpuKernels final : public Kernels {
 public:
  void embedding(const EmbeddingArgs& a) override;
  void rmsNorm(const RmsNormArgs& a) override;
  void addRmsNorm(const AddRmsNormArgs& a) override;
  void add(uintptr_t out, uintptr_t a, uintptr_t b, size_t n, DType dtype) override;
  void rotary(const RotaryArgs& a) override;
  void storeKv(const StoreKvArgs& a) override;
  void attention(const AttentionArgs& a) override;
  void siluAndMul(const SiluAndMulArgs& a) override;
  void gemm(const GemmArgs& args) override;
  void convert(uintptr_t out, DType outType, uintptr_t in, DType inType, size_t n) override;
  void sample(const SampleArgs& a) override;
  void tokenLogprobs(const TokenLogprobsArgs& a) override;
  void addLogitBias(const AddLogitBiasArgs& a) override;
  void topLogprobs(const TopLogprobsArgs& a) override;
  void upload(uintptr_t device, const void* host, size_t bytes) override;
  void download(void* host, uintptr_t device, size_t bytes) override;
  void synchronize() override {}
  int queueDownload(uintptr_t device, size_t bytes) override;
  void takeDownload(int ticket, void* host, size_t bytes) override;

 private:
  QueuedDownloads queued_;
  std::array<std::vector<char>, kQueuedDownloads> downloads_;
};

// CpuKernels, recordable as graphs, behind the shared argument checks.
std::unique_ptr<Kernels> createCpuKernels();

}  // namespace ts::cpu
