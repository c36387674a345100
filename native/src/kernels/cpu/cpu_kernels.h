// The CPU backend of the model kernels: host memory, float32 math, the shared thread pool.
// Each operation's body lives in its own file (embedding.cc, rms_norm.cc, ...). Arguments are
// assumed checked by withArgumentChecks; content checks (ids, metadata) are made here.
#pragma once

#include <memory>

#include "kernels/kernels.h"

namespace ts::cpu {

class CpuKernels final : public Kernels {
 public:
  void embedding(const EmbeddingArgs& a) override;
  void rmsNorm(const RmsNormArgs& a) override;
  void addRmsNorm(const AddRmsNormArgs& a) override;
  void add(uintptr_t out, uintptr_t a, uintptr_t b, size_t n, DType dtype) override;
  void rotary(const RotaryArgs& a) override;
  void storeKv(const StoreKvArgs& a) override;
  void attention(uintptr_t out, uintptr_t q, uintptr_t kCache, uintptr_t vCache, const AttentionBatch& batch,
                 int tokens, int qHeads, int kvHeads, int headDim, int qStride, float scale, DType dtype) override;
  void siluAndMul(const SiluAndMulArgs& a) override;
  void gemm(const GemmArgs& args) override;
  void convert(uintptr_t out, DType outType, uintptr_t in, DType inType, size_t n) override;
  void sample(uintptr_t out, uintptr_t logits, int rows, int vocab, uintptr_t temperature, uintptr_t topK,
              uintptr_t topP, uintptr_t randomKeys, DType dtype) override;
  void tokenLogprobs(uintptr_t out, uintptr_t logits, uintptr_t ids, uintptr_t temperature, int rows, int vocab,
                     DType dtype) override;
  void addLogitBias(uintptr_t logits, uintptr_t rows, uintptr_t ids, uintptr_t values, int count, int numRows,
                    int vocab, DType dtype) override;
  void topLogprobs(uintptr_t outIds, uintptr_t outLogprobs, uintptr_t logits, uintptr_t temperature, int rows,
                   int vocab, int k, DType dtype) override;
  void upload(uintptr_t device, const void* host, size_t bytes) override;
  void download(void* host, uintptr_t device, size_t bytes) override;
  void synchronize() override {}
};

// CpuKernels, recordable as graphs, behind the shared argument checks.
std::unique_ptr<Kernels> createCpuKernels();

}  // namespace ts::cpu
