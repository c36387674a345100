// The yardstick of the memory benchmark: plain cudaMallocHost + cudaMemcpy of the same size,
// measured in the same process as the saver.
#include <napi.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "raw_copy_bench.h"

#if defined(TS_WITH_CUDA)
#include <cuda_runtime_api.h>
#include <sys/mman.h>
#endif

namespace ts {

Napi::Value rawCopyBench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#if !defined(TS_WITH_CUDA)
  throw Napi::Error::New(env, "rawCopyBench needs the CUDA backend");
#else
  int device = info[0].As<Napi::Number>().Int32Value();
  size_t bytes = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
  int repeats = info[2].As<Napi::Number>().Int32Value();
  auto check = [&](cudaError_t status, const char* call) {
    if (status != cudaSuccess) throw Napi::Error::New(env, std::string(call) + " failed: " + cudaGetErrorName(status));
  };
  auto now = [] { return std::chrono::steady_clock::now(); };
  auto ms = [](auto from, auto to) { return std::chrono::duration<double, std::milli>(to - from).count(); };
  check(cudaSetDevice(device), "cudaSetDevice");
  void* host = nullptr;
  void* dev = nullptr;
  auto pinStart = now();
  check(cudaMallocHost(&host, bytes), "cudaMallocHost");
  double pinMs = ms(pinStart, now());
  check(cudaMalloc(&dev, bytes), "cudaMalloc");
  check(cudaMemset(dev, 1, bytes), "cudaMemset");
  Napi::Array d2h = Napi::Array::New(env);
  Napi::Array h2d = Napi::Array::New(env);
  for (int i = 0; i < repeats; ++i) {
    auto a = now();
    check(cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy(D2H)");
    auto b = now();
    check(cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy(H2D)");
    auto c = now();
    d2h.Set(i, ms(a, b));
    h2d.Set(i, ms(b, c));
  }
  // The same copies in 256 MiB pieces, and from mmap'd memory pinned with cudaHostRegister.
  auto piecewise = [&](void* to, const void* from, cudaMemcpyKind kind) {
    const size_t piece = size_t(256) << 20;
    auto a = now();
    for (size_t done = 0; done < bytes; done += piece) {
      size_t length = std::min(piece, bytes - done);
      char* d = static_cast<char*>(to) + done;
      const char* f = static_cast<const char*>(from) + done;
      check(cudaMemcpyAsync(d, f, length, kind, 0), "cudaMemcpyAsync");
    }
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    return ms(a, now());
  };
  double h2dPieces = piecewise(dev, host, cudaMemcpyHostToDevice);
  cudaFreeHost(host);
  void* mapped = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  madvise(mapped, bytes, MADV_HUGEPAGE);
  auto regStart = now();
  check(cudaHostRegister(mapped, bytes, cudaHostRegisterDefault), "cudaHostRegister");
  double registerMs = ms(regStart, now());
  double h2dRegistered = piecewise(dev, mapped, cudaMemcpyHostToDevice);
  h2dRegistered = std::min(h2dRegistered, piecewise(dev, mapped, cudaMemcpyHostToDevice));
  double d2hRegistered = piecewise(mapped, dev, cudaMemcpyDeviceToHost);
  cudaHostUnregister(mapped);
  munmap(mapped, bytes);
  cudaFree(dev);
  Napi::Object out = Napi::Object::New(env);
  out.Set("pinMs", pinMs);
  out.Set("d2hMs", d2h);
  out.Set("h2dMs", h2d);
  out.Set("h2dPiecesMs", h2dPieces);
  out.Set("registerMs", registerMs);
  out.Set("h2dRegisteredMs", h2dRegistered);
  out.Set("d2hRegisteredMs", d2hRegistered);
  return out;
#endif
}

}  // namespace ts
