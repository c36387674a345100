// What the CUDA kernels share: the element types (float, __nv_bfloat16, __half) with float32
// conversions bit-exact with the CPU backend (kernels/cpu/element_types.h: stores round to
// nearest even, NaN stays NaN with the same bits, overflow becomes infinity), the dispatch
// from DType, block reductions and launch checks.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/kernels.h"

namespace ts::cuda {

__device__ __forceinline__ float toFloat(float x) { return x; }
__device__ __forceinline__ float toFloat(__nv_bfloat16 x) {
  return __uint_as_float(static_cast<uint32_t>(__bfloat16_as_ushort(x)) << 16);
}
__device__ __forceinline__ float toFloat(__half x) {
  uint32_t h = __half_as_ushort(x);
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t magnitude = h & 0x7fffu;
  uint32_t bits;
  if (magnitude >= 0x7c00u) {
    bits = (magnitude << 13) | 0x7f800000u;
  } else if (magnitude < 0x0400u) {
    bits = __float_as_uint(static_cast<float>(magnitude) * 5.9604644775390625e-8f);  // * 2^-24
  } else {
    bits = (magnitude << 13) + 0x38000000u;
  }
  return __uint_as_float(bits | sign);
}

template <typename T>
__device__ __forceinline__ T fromFloat(float x);

template <>
__device__ __forceinline__ float fromFloat<float>(float x) {
  return x;
}

template <>
__device__ __forceinline__ __nv_bfloat16 fromFloat<__nv_bfloat16>(float x) {
  uint32_t bits = __float_as_uint(x);
  uint32_t rounded = (bits & 0x7fffffffu) > 0x7f800000u ? (bits >> 16) | 0x0040u
                                                          : (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
  return __ushort_as_bfloat16(static_cast<unsigned short>(rounded));
}

template <>
__device__ __forceinline__ __half fromFloat<__half>(float x) {
  uint32_t bits = __float_as_uint(x);
  uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t magnitude = bits & 0x7fffffffu;
  uint32_t half;
  if (magnitude >= 0x47800000u) {
    half = magnitude > 0x7f800000u ? 0x7e00u : 0x7c00u;
  } else if (magnitude < 0x38800000u) {  // a float16 subnormal: the float adder rounds it
    half = __float_as_uint(__fadd_rn(__uint_as_float(magnitude), 0.5f)) - 0x3f000000u;
  } else {
    half = (magnitude - 0x38000000u + 0xfffu + ((magnitude >> 13) & 1u)) >> 13;
  }
  return __ushort_as_half(static_cast<unsigned short>(half | sign));
}

template <typename T>
struct Type {
  using type = T;
};

// Calls body(Type<T>{}) with T the element type of dtype.
template <typename Body>
void withElementType(DType dtype, Body&& body) {
  switch (dtype) {
    case DType::F32:
      return body(Type<float>{});
    case DType::BF16:
      return body(Type<__nv_bfloat16>{});
    case DType::F16:
      return body(Type<__half>{});
  }
  throw std::invalid_argument("unknown dtype " + std::to_string(static_cast<int>(dtype)));
}

inline void checkLaunch(const char* kernel) {
  cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string(kernel) + ": kernel launch failed: " + cudaGetErrorName(status) + " (" +
                             cudaGetErrorString(status) + ")");
  }
}

inline unsigned gridFor(size_t items, int perBlock, unsigned cap = 1u << 20) {
  size_t blocks = (items + perBlock - 1) / perBlock;
  return static_cast<unsigned>(blocks < cap ? (blocks > 0 ? blocks : 1) : cap);
}

template <typename T>
T* at(uintptr_t address) {
  return reinterpret_cast<T*>(address);
}

template <typename V>
__device__ __forceinline__ V warpSum(V value) {
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

// The sum over the block (blockDim.x a multiple of 32, at most 1024), returned to every thread.
template <typename V>
__device__ V blockSum(V value, V* scratch32) {
  value = warpSum(value);
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  __syncthreads();  // scratch32 may still be read by a previous call
  if (lane == 0) scratch32[warp] = value;
  __syncthreads();
  value = lane < warps ? scratch32[lane] : V(0);
  return warpSum(value);
}

__device__ __forceinline__ float warpMax(float value) {
  for (int offset = 16; offset > 0; offset /= 2) value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

// The maximum over the block (as blockSum; NaN is ignored, as fmaxf does), returned to every thread.
__device__ inline float blockMax(float value, float* scratch32) {
  value = warpMax(value);
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  __syncthreads();  // scratch32 may still be read by a previous call
  if (lane == 0) scratch32[warp] = value;
  __syncthreads();
  value = lane < warps ? scratch32[lane] : -INFINITY;
  return warpMax(value);
}

// Copies bytes from src to dst with the block's threads, 16 bytes at a time where aligned.
__device__ __forceinline__ void blockCopy(void* dst, const void* src, size_t bytes) {
  uintptr_t alignment = reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src) | bytes;
  if (alignment % 16 == 0) {
    for (size_t i = threadIdx.x; i < bytes / 16; i += blockDim.x) {
      static_cast<uint4*>(dst)[i] = static_cast<const uint4*>(src)[i];
    }
  } else if (alignment % 4 == 0) {
    for (size_t i = threadIdx.x; i < bytes / 4; i += blockDim.x) {
      static_cast<uint32_t*>(dst)[i] = static_cast<const uint32_t*>(src)[i];
    }
  } else {
    for (size_t i = threadIdx.x; i < bytes / 2; i += blockDim.x) {
      static_cast<uint16_t*>(dst)[i] = static_cast<const uint16_t*>(src)[i];
    }
  }
}

// 16 bytes of elements (8 of bfloat16 / float16, 4 of float32) at a 16-byte aligned address, as float32.
template <typename T>
constexpr int kVector = 16 / sizeof(T);

template <typename T>
__device__ __forceinline__ void loadVector(const T* at, float (&out)[kVector<T>]) {
  uint4 bits = *reinterpret_cast<const uint4*>(at);
  const T* elements = reinterpret_cast<const T*>(&bits);
#pragma unroll
  for (int j = 0; j < kVector<T>; ++j) out[j] = toFloat(elements[j]);
}

template <typename T>
__device__ __forceinline__ void storeVector(T* at, const float (&in)[kVector<T>]) {
  uint4 bits;
  T* elements = reinterpret_cast<T*>(&bits);
#pragma unroll
  for (int j = 0; j < kVector<T>; ++j) elements[j] = fromFloat<T>(in[j]);
  *reinterpret_cast<uint4*>(at) = bits;
}

}  // namespace ts::cuda
