// The yardstick of the memory benchmark: plain cudaMallocHost + cudaMemcpy of the same size,
// measured in the same process as the saver.
#include <napi.h>

#include <chrono>
#include <string>

#include "raw_copy_bench.h"

#if defined(TS_WITH_CUDA)
#include <cuda_runtime_api.h>
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
  cudaFree(dev);
  cudaFreeHost(host);
  Napi::Object out = Napi::Object::New(env);
  out.Set("pinMs", pinMs);
  out.Set("d2hMs", d2h);
  out.Set("h2dMs", h2d);
  return out;
#endif
}

}  // namespace ts
