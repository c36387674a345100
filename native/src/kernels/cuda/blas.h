// cuBLAS, loaded at run time (dlopen), so that the addon builds and runs where it is absent;
// only the few declarations used are written out here (from the public cuBLAS API).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/kernels.h"

namespace ts::cuda {

class Blas {
 public:
  // Loads libcublas.so.13 (else .so.12; TS_CUBLAS_LIBRARY names a file to try first), creates a
  // handle on `stream` with its own workspace. Throws std::runtime_error naming the library.
  // cuBLAS's own workspace pool is turned off (CUBLAS_WORKSPACE_CONFIG=:0:0 unless set): the
  // handle then holds 2 MiB instead of 66 (H200, CUDA 13), little enough to keep across pauses.
  explicit Blas(cudaStream_t stream);
  ~Blas();
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;

  // out[m, n] = a[m, k] · w[n, k]ᵀ (+ out[m, n] when accumulate), all row-major of `dtype`,
  // float32 accumulation, one rounding to `dtype` at the end.
  void gemm(uintptr_t out, uintptr_t a, uintptr_t w, bool accumulate, int m, int n, int k, DType dtype);

  // The workspace cuBLAS is given (its recommendation for Hopper).
  static constexpr size_t kWorkspaceBytes = size_t(32) << 20;

  // Frees the workspace (a pause); the next GEMM allocates it again. The handle, and the
  // algorithm choices cuBLAS cached in it, stay. Does nothing to a workspace given with
  // useWorkspace.
  void releaseWorkspace();
  // A workspace of kWorkspaceBytes owned by the caller, from now on (its own is freed), or
  // back to one of its own.
  void useWorkspace(void* workspace, size_t bytes);
  void useOwnWorkspace();

 private:
  struct Api;
  void release();
  void ensureWorkspace();
  Api* api_ = nullptr;
  void* library_ = nullptr;
  void* handle_ = nullptr;
  void* workspace_ = nullptr;
  bool givenWorkspace_ = false;
};

}  // namespace ts::cuda
