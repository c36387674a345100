// The CPU backend of the model kernels: host memory, float32 math, the shared thread pool.
// Each operation's body lives in its own file (embedding.cc, rms_norm.cc, ...). Arguments are
// assumed checked by withArgumentChecks; content checks (ids, metadata) are made here.
#pragma once

#include <memory>

#include "kernels/kernels.h"

namespace ts::cpu {

class CpuKernels final : public Kernels {
 public:
  void embedding(uintptr_t out, uintptr_t table, uintptr_t ids, int tokens, int dim, DType dtype) override;
  void rmsNorm(uintptr_t out, uintptr_t x, uintptr_t weight, int rows, int dim, int rowsPerGroup, size_t groupStride,
               float eps, DType dtype) override;
  void addRmsNorm(uintptr_t out, uintptr_t residual, uintptr_t delta, uintptr_t weight, int rows, int dim, float eps,
                  DType dtype) override;
  void add(uintptr_t out, uintptr_t a, uintptr_t b, size_t n, DType dtype) override;
  void rotary(uintptr_t q, uintptr_t k, uintptr_t positions, int tokens, int qHeads, int kvHeads, int headDim,
              int rotaryDim, int qStride, int kStride, uintptr_t invFreq, RotaryLayout layout, DType dtype) override;
  void storeKv(uintptr_t kCache, uintptr_t vCache, uintptr_t k, uintptr_t v, uintptr_t slots, int tokens, int kvHeads,
               int headDim, int kStride, int vStride, DType dtype) override;
  void attention(uintptr_t out, uintptr_t q, uintptr_t kCache, uintptr_t vCache, const AttentionBatch& batch,
                 int tokens, int qHeads, int kvHeads, int headDim, int qStride, float scale, DType dtype) override;
  void siluAndMul(uintptr_t out, uintptr_t gateUp, int rows, int inter, DType dtype) override;
  void gemm(uintptr_t out, uintptr_t a, uintptr_t w, uintptr_t bias, int m, int n, int k, DType dtype) override;
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
