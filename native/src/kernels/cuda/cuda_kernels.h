// The CUDA backend of the model kernels: every launch on the owning device's one stream.
// Each operation lives in its own .cu file (embedding.cu, rms_norm.cu, ...); GEMM goes through
// cuBLAS, loaded at run time (blas.h). Arguments are assumed checked by withArgumentChecks;
// content errors (ids, attention metadata) are found on the device and thrown by the next call
// that waits for the stream (content_error.h).
#pragma once

#include <array>

#include <cuda_runtime_api.h>

#include <map>
#include <memory>

#include "kernels/kernels.h"
#include "kernels/queued_downloads.h"

namespace ts::cuda {

struct ContentError;
class Blas;

class CudaKernels final : public Kernels {
 public:
  CudaKernels(int device, cudaStream_t stream);
  ~CudaKernels() override;
  CudaKernels(const CudaKernels&) = delete;
  CudaKernels& operator=(const CudaKernels&) = delete;

  void embedding(const EmbeddingArgs& a) override;
  void rmsNorm(const RmsNormArgs& a) override;
  void addRmsNorm(const AddRmsNormArgs& a) override;
  void add(uintptr_t out, uintptr_t a, uintptr_t b, size_t n, DType dtype) override;
  void rotary(const RotaryArgs& a) override;
  void storeKv(const StoreKvArgs& a) override;
  void rotaryStoreKv(const RotaryStoreKvArgs& a) override;
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
  void synchronize() override;
  int queueDownload(uintptr_t device, size_t bytes) override;
  void takeDownload(int ticket, void* host, size_t bytes) override;
  void trimScratch() override;
  size_t scratchBytes(int maxTokens, int group) const override;
  void useScratch(uintptr_t address, size_t bytes) override;
  void forgetScratch(uintptr_t begin, uintptr_t end) override;
  void scratchMapped(uintptr_t begin, uintptr_t end, bool mapped) override;
  bool canCapture() const override { return true; }
  void beginCapture() override;
  int endCapture() override;
  bool replay(int graph) override;
  void dropGraphs() override;

 private:
  // Makes the device current on this thread and returns the stream to launch on.
  cudaStream_t enter() const;
  // Device memory for one call's intermediates, valid until the next call (stream-ordered).
  void* scratch(size_t bytes);
  // The most attention scratch for batches of up to `maxTokens` tokens (attention.cu).
  static size_t attentionScratchBound(int maxTokens, int group);
  // Waits for the stream, then throws the first content error the kernels recorded, if any.
  void finish(const char* call);

  int device_;
  cudaStream_t stream_;
  int multiprocessors_ = 0;
  ContentError* error_ = nullptr;      // device memory
  ContentError* errorHost_ = nullptr;  // pinned copy read after each wait
  void* scratch_ = nullptr;
  size_t scratchBytes_ = 0;
  // Scratch given with useScratch: the cuBLAS workspace first, then the attention scratch.
  uintptr_t given_ = 0;
  size_t givenBytes_ = 0;
  bool givenMapped_ = true;
  // Throws when the given scratch is unmapped (its tag released): `call` needs it.
  void needGivenScratch(const char* call) const;
  std::unique_ptr<Blas> blas_;
  // Queued downloads: per slot pinned memory for the bytes and the content error at the time,
  // and the event after their copies.
  struct PinnedDownload {
    void* bytes = nullptr;
    size_t capacity = 0;
    ContentError* error = nullptr;
    cudaEvent_t copied = nullptr;
  };
  QueuedDownloads queued_;
  std::array<PinnedDownload, kQueuedDownloads> downloads_{};
  // Pinned staging for small uploads, used in turn: a slot is free again once its event has
  // passed, so a step's few uploads do not wait for the step queued before it.
  static constexpr int kStagingSlots = 4;
  struct Staging {
    void* bytes = nullptr;
    cudaEvent_t free = nullptr;
  };
  std::array<Staging, kStagingSlots> staging_{};
  int nextStaging_ = 0;
  // The last attention plan (attention.cu), kept for calls with AttentionBatch::reusePlan while
  // nothing that could change what it read (an upload, a capture, a replay, scratch moving) came since.
  struct PlanKey {
    const int32_t* queryStart;
    const int32_t* seqLens;
    const int32_t* pageTable;
    int numSeqs, pageTableStride, pageSize, tokens, group, rowsPerItem, kvHeads, splits;
    long long itemBound;
    void* scratch;
    bool operator==(const PlanKey& o) const {
      return queryStart == o.queryStart && seqLens == o.seqLens && pageTable == o.pageTable && numSeqs == o.numSeqs &&
             pageTableStride == o.pageTableStride && pageSize == o.pageSize && tokens == o.tokens && group == o.group &&
             rowsPerItem == o.rowsPerItem && kvHeads == o.kvHeads && splits == o.splits && itemBound == o.itemBound &&
             scratch == o.scratch;
    }
  };
  PlanKey lastPlan_{};
  bool planValid_ = false;
  bool capturing_ = false;
  int nextGraph_ = 0;
  std::map<int, cudaGraphExec_t> graphs_;
};

// CudaKernels behind the shared argument checks, launching on `stream` of `device`.
std::unique_ptr<Kernels> createCudaKernels(int device, cudaStream_t stream);

}  // namespace ts::cuda
