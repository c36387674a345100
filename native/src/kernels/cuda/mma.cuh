// The tensor-core building blocks the MMA kernels share (attention_decode.cuh, gemm_invariant.cu):
// asynchronous 16-byte copies into shared memory, ldmatrix loads and the m16n8k16 MMA with float32
// accumulators, for bfloat16 / float16 operands.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace ts::cuda {

__device__ __forceinline__ unsigned sharedAddress(const void* at) {
  return static_cast<unsigned>(__cvta_generic_to_shared(at));
}

// 16 bytes from global to shared memory, or 16 zero bytes when !valid; L2 fetches PrefetchBytes
// around them.
template <int PrefetchBytes = 0>
__device__ __forceinline__ void copy16(void* to, const void* from, bool valid) {
  static_assert(PrefetchBytes == 0 || PrefetchBytes == 128, "L2 prefetch of 0 or 128 bytes");
  if constexpr (PrefetchBytes == 128) {
    asm volatile("cp.async.cg.shared.global.L2::128B [%0], [%1], 16, %2;\n" ::"r"(sharedAddress(to)), "l"(from),
                 "r"(valid ? 16 : 0));
  } else {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sharedAddress(to)), "l"(from),
                 "r"(valid ? 16 : 0));
  }
}
__device__ __forceinline__ void commitCopies() { asm volatile("cp.async.commit_group;\n" ::); }
template <int Pending>
__device__ __forceinline__ void waitCopies() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending));
}

__device__ __forceinline__ void loadMatrices(uint32_t (&r)[4], const void* at) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(sharedAddress(at)));
}
__device__ __forceinline__ void loadMatricesTransposed(uint32_t (&r)[4], const void* at) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(sharedAddress(at)));
}

// c += a b for one m16n8k16 tile (a row-major 16x16, b column-major 16x8, c float32 16x8).
template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Two float32 values as one register of two T, the first in the low half: one conversion
// instruction, rounding to nearest even as fromFloat does for the finite values P holds.
template <typename T>
__device__ __forceinline__ uint32_t packPair(float low, float high) {
  if constexpr (std::is_same_v<T, __half>) {
    __half2 pair = __floats2half2_rn(low, high);
    return *reinterpret_cast<const uint32_t*>(&pair);
  } else {
    __nv_bfloat162 pair = __floats2bfloat162_rn(low, high);
    return *reinterpret_cast<const uint32_t*>(&pair);
  }
}

}  // namespace ts::cuda
