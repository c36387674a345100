#include "kernels/cuda/blas.h"

#include <dlfcn.h>
#include <library_types.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace ts::cuda {
namespace {

// From cublas_api.h (stable since CUDA 11).
using Status = int;
constexpr Status kSuccess = 0;
constexpr int kOpN = 0, kOpT = 1;
constexpr int kComputeF32 = 68;                 // CUBLAS_COMPUTE_32F
constexpr int kGemmDefault = -1;                // CUBLAS_GEMM_DEFAULT
constexpr int kDisallowReducedPrecision = 16;  // CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION

using Handle = void*;

}  // namespace

struct Blas::Api {
  Status (*create)(Handle*);
  Status (*destroy)(Handle);
  Status (*setStream)(Handle, cudaStream_t);
  Status (*setWorkspace)(Handle, void*, size_t);
  Status (*setMathMode)(Handle, int);
  Status (*gemmEx)(Handle, int transa, int transb, int m, int n, int k, const void* alpha, const void* A,
                   cudaDataType Atype, int lda, const void* B, cudaDataType Btype, int ldb, const void* beta, void* C,
                   cudaDataType Ctype, int ldc, int computeType, int algo);
  const char* (*statusName)(Status);
};

namespace {

std::vector<std::string> candidates() {
  std::vector<std::string> names;
  const char* path = std::getenv("TS_CUBLAS_LIBRARY");
  if (path && *path) names.push_back(path);
  std::vector<std::string> dirs{""};
  for (const char* variable : {"CUDA_HOME", "CUDA_PATH"}) {
    const char* root = std::getenv(variable);
    if (root && *root) dirs.push_back(std::string(root) + "/lib64/");
  }
  dirs.push_back("/usr/local/cuda/lib64/");
  for (const char* version : {"13", "12"}) {
    for (const std::string& dir : dirs) names.push_back(dir + "libcublas.so." + version);
  }
  return names;
}

template <typename F>
void bind(void* library, F& function, const char* symbol) {
  function = reinterpret_cast<F>(dlsym(library, symbol));
  if (!function) throw std::runtime_error(std::string("gemm: cuBLAS lacks ") + symbol);
}

}  // namespace

Blas::Blas(cudaStream_t stream) {
  setenv("CUBLAS_WORKSPACE_CONFIG", ":0:0", 0);  // before cuBLAS is loaded; a user's setting wins
  std::string tried;
  for (const std::string& name : candidates()) {
    library_ = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library_) break;
    tried += "\n  " + name + ": " + dlerror();
  }
  if (!library_) {
    throw std::runtime_error("gemm: cannot load cuBLAS (libcublas.so.13 or libcublas.so.12; set TS_CUBLAS_LIBRARY "
                             "or LD_LIBRARY_PATH):" + tried);
  }
  auto api = std::make_unique<Api>();
  try {
    bind(library_, api->create, "cublasCreate_v2");
    bind(library_, api->destroy, "cublasDestroy_v2");
    bind(library_, api->setStream, "cublasSetStream_v2");
    bind(library_, api->setWorkspace, "cublasSetWorkspace_v2");
    bind(library_, api->setMathMode, "cublasSetMathMode");
    bind(library_, api->gemmEx, "cublasGemmEx");
    api->statusName = reinterpret_cast<const char* (*)(Status)>(dlsym(library_, "cublasGetStatusName"));
    api_ = api.release();
    auto check = [&](Status status, const char* call) {
      if (status == kSuccess) return;
      std::string name = api_->statusName ? api_->statusName(status) : std::to_string(status);
      throw std::runtime_error(std::string("gemm: ") + call + " failed: " + name);
    };
    check(api_->create(&handle_), "cublasCreate");
    check(api_->setStream(handle_, stream), "cublasSetStream");
    check(api_->setMathMode(handle_, kDisallowReducedPrecision), "cublasSetMathMode");
  } catch (...) {
    release();
    throw;
  }
}

Blas::~Blas() { release(); }

void Blas::ensureWorkspace() {
  if (workspace_) return;
  cudaError_t allocated = cudaMalloc(&workspace_, kWorkspaceBytes);
  if (allocated != cudaSuccess) {
    workspace_ = nullptr;
    throw std::runtime_error(std::string("gemm: cudaMalloc(cuBLAS workspace) failed: ") + cudaGetErrorName(allocated));
  }
  Status status = api_->setWorkspace(handle_, workspace_, kWorkspaceBytes);
  if (status != kSuccess) {
    cudaFree(workspace_);
    workspace_ = nullptr;
    std::string name = api_->statusName ? api_->statusName(status) : std::to_string(status);
    throw std::runtime_error("gemm: cublasSetWorkspace failed: " + name);
  }
}

void Blas::useWorkspace(void* workspace, size_t bytes) {
  releaseWorkspace();
  Status status = api_->setWorkspace(handle_, workspace, bytes);
  if (status != kSuccess) {
    std::string name = api_->statusName ? api_->statusName(status) : std::to_string(status);
    throw std::runtime_error("gemm: cublasSetWorkspace failed: " + name);
  }
  workspace_ = workspace;
  givenWorkspace_ = true;
}

void Blas::useOwnWorkspace() {
  if (!givenWorkspace_) return;
  api_->setWorkspace(handle_, nullptr, 0);
  workspace_ = nullptr;
  givenWorkspace_ = false;
}

void Blas::releaseWorkspace() {
  if (!workspace_ || givenWorkspace_) return;
  // cuBLAS must not keep a pointer to freed memory: no workspace until the next GEMM.
  api_->setWorkspace(handle_, nullptr, 0);
  cudaFree(workspace_);
  workspace_ = nullptr;
}

void Blas::release() {
  if (handle_) api_->destroy(handle_);
  handle_ = nullptr;
  if (workspace_ && !givenWorkspace_) cudaFree(workspace_);
  workspace_ = nullptr;
  delete api_;
  api_ = nullptr;
  // The library stays loaded: a trimmed engine loads it again on its next GEMM, and cuBLAS
  // is not written to be unloaded.
  library_ = nullptr;
}

// cuBLAS is column-major: a row-major [r, c] buffer is, to it, the c×r matrix (the transpose).
// So the buffers are aᵀ (k×m, ld k), wᵀ (k×n, ld k) and outᵀ (n×m, ld n), and
// outᵀ = (a · wᵀ)ᵀ = w · aᵀ = (wᵀ)ᵀ · aᵀ: C(n×m) = op_T(A = w buffer) · op_N(B = a buffer).
void Blas::gemm(uintptr_t out, uintptr_t a, uintptr_t w, bool accumulate, int m, int n, int k, DType dtype) {
  ensureWorkspace();
  cudaDataType type = dtype == DType::F32 ? CUDA_R_32F : dtype == DType::BF16 ? CUDA_R_16BF : CUDA_R_16F;
  float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  Status status = api_->gemmEx(handle_, kOpT, kOpN, n, m, k, &alpha, reinterpret_cast<const void*>(w), type, k,
                               reinterpret_cast<const void*>(a), type, k, &beta, reinterpret_cast<void*>(out), type, n,
                               kComputeF32, kGemmDefault);
  if (status != kSuccess) {
    std::string name = api_->statusName ? api_->statusName(status) : std::to_string(status);
    throw std::runtime_error("gemm: cublasGemmEx(m=" + std::to_string(m) + ", n=" + std::to_string(n) +
                             ", k=" + std::to_string(k) + ") failed: " + name);
  }
}

}  // namespace ts::cuda
