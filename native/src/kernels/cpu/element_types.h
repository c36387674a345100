// The three element types as C++ types, their float32 conversions (bfloat16: the top 16 bits;
// float16: bit manipulation, no _Float16 or F16C needed), and the dispatch from DType to type.
// Stores round to nearest even; NaN stays NaN, overflow becomes infinity.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/kernels.h"

#define TS_INLINE inline __attribute__((always_inline))

namespace ts::cpu {

struct Bf16 {
  uint16_t bits;
};
struct F16 {
  uint16_t bits;
};

TS_INLINE uint32_t floatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return bits;
}

TS_INLINE float bitsFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

TS_INLINE float toFloat(float x) { return x; }
TS_INLINE float toFloat(Bf16 x) { return bitsFloat(static_cast<uint32_t>(x.bits) << 16); }
TS_INLINE float toFloat(F16 x) {
  uint32_t sign = static_cast<uint32_t>(x.bits & 0x8000u) << 16;
  uint32_t magnitude = x.bits & 0x7fffu;
  uint32_t normal = (magnitude << 13) + 0x38000000u;  // exponent bias 15 -> 127
  uint32_t infOrNan = (magnitude << 13) | 0x7f800000u;
  float subnormal = static_cast<float>(static_cast<int>(magnitude)) * 5.9604644775390625e-8f;  // * 2^-24
  uint32_t bits = magnitude >= 0x7c00u ? infOrNan : magnitude < 0x0400u ? floatBits(subnormal) : normal;
  return bitsFloat(bits | sign);
}

template <typename T>
T fromFloat(float x);

template <>
TS_INLINE float fromFloat<float>(float x) {
  return x;
}

template <>
TS_INLINE Bf16 fromFloat<Bf16>(float x) {
  uint32_t bits = floatBits(x);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return Bf16{static_cast<uint16_t>((bits >> 16) | 0x0040u)};
  return Bf16{static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16)};
}

template <>
TS_INLINE F16 fromFloat<F16>(float x) {
  uint32_t bits = floatBits(x);
  uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t magnitude = bits & 0x7fffffffu;
  uint32_t half;
  if (magnitude >= 0x47800000u) {  // 65536 and above, infinity, NaN
    half = magnitude > 0x7f800000u ? 0x7e00u : 0x7c00u;
  } else if (magnitude < 0x38800000u) {  // below 2^-14: the float adder rounds to a subnormal
    half = floatBits(bitsFloat(magnitude) + 0.5f) - 0x3f000000u;
  } else {
    uint32_t odd = (magnitude >> 13) & 1u;
    half = (magnitude - 0x38000000u + 0xfffu + odd) >> 13;
  }
  return F16{static_cast<uint16_t>(half | sign)};
}

// Calls body(T{}) with T the element type of dtype.
template <typename Body>
void withElementType(DType dtype, Body&& body) {
  switch (dtype) {
    case DType::F32:
      return body(float{});
    case DType::BF16:
      return body(Bf16{});
    case DType::F16:
      return body(F16{});
  }
  throw std::invalid_argument("unknown dtype " + std::to_string(static_cast<int>(dtype)));
}

template <typename T>
TS_INLINE void loadRow(float* out, const T* in, int n) {
  for (int i = 0; i < n; ++i) out[i] = toFloat(in[i]);
}

template <typename T>
TS_INLINE void storeRow(T* out, const float* in, int n) {
  for (int i = 0; i < n; ++i) out[i] = fromFloat<T>(in[i]);
}

template <typename T>
TS_INLINE T* at(uintptr_t address) {
  return reinterpret_cast<T*>(address);
}

}  // namespace ts::cpu
