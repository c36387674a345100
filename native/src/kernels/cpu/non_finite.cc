#include "kernels/cpu/non_finite.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu/element_types.h"
#include "kernels/cpu/thread_pool.h"

// A compare per lane is cheap on every level; the clones let one pass keep up with memory.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TS_SCAN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TS_SCAN_CLONES
#endif

namespace ts::cpu {
namespace {

constexpr size_t kVectorBytes = 64;
// Per-lane counts are summed every block: 1024 vectors, so even 16-bit lanes never overflow.
constexpr size_t kBlockBytes = 1024 * kVectorBytes;
// Buffers shorter than this are scanned by the calling thread alone.
constexpr size_t kGrainBytes = size_t{1} << 20;

typedef uint32_t U32Vec __attribute__((vector_size(kVectorBytes)));
typedef int32_t I32Vec __attribute__((vector_size(kVectorBytes)));
typedef uint16_t U16Vec __attribute__((vector_size(kVectorBytes)));
typedef int16_t I16Vec __attribute__((vector_size(kVectorBytes)));

template <typename Lane>
TS_INLINE bool nonFiniteAt(const unsigned char* data, size_t i, Lane mask) {
  Lane v;
  std::memcpy(&v, data + i * sizeof(Lane), sizeof v);
  return (v & mask) == mask;
}

// Non-finite lanes in `bytes` (a multiple of kVectorBytes, at most kBlockBytes) at p.
template <typename Unsigned, typename Signed, typename Lane>
TS_INLINE size_t countBlock(const unsigned char* p, size_t bytes, Lane mask) {
  const Unsigned m = Unsigned{} + mask;
  Signed counts = {};
  for (size_t offset = 0; offset < bytes; offset += kVectorBytes) {
    Unsigned v;
    std::memcpy(&v, p + offset, kVectorBytes);
    counts -= reinterpret_cast<Signed>((v & m) == m);  // a true lane compares as -1
  }
  size_t total = 0;
  for (size_t lane = 0; lane < kVectorBytes / sizeof(Lane); ++lane) total += static_cast<size_t>(counts[lane]);
  return total;
}

// Elements [begin, end) of data; vector blocks, then a scalar tail; the first hit's index.
template <typename Unsigned, typename Signed, typename Lane>
TS_INLINE NonFiniteCount scanRange(const unsigned char* data, size_t begin, size_t end, Lane mask) {
  constexpr size_t perVector = kVectorBytes / sizeof(Lane);
  constexpr size_t perBlock = kBlockBytes / sizeof(Lane);
  NonFiniteCount out;
  size_t i = begin;
  while (end - i >= perVector) {
    size_t n = std::min(perBlock, (end - i) / perVector * perVector);
    size_t hits = countBlock<Unsigned, Signed>(data + i * sizeof(Lane), n * sizeof(Lane), mask);
    if (hits > 0 && out.count == 0) {
      out.first = i;
      while (!nonFiniteAt(data, out.first, mask)) ++out.first;
    }
    out.count += hits;
    i += n;
  }
  for (; i < end; ++i) {
    if (!nonFiniteAt(data, i, mask)) continue;
    if (out.count == 0) out.first = i;
    ++out.count;
  }
  return out;
}

TS_SCAN_CLONES NonFiniteCount scan32(const unsigned char* data, size_t begin, size_t end, uint32_t mask) {
  return scanRange<U32Vec, I32Vec>(data, begin, end, mask);
}

TS_SCAN_CLONES NonFiniteCount scan16(const unsigned char* data, size_t begin, size_t end, uint16_t mask) {
  return scanRange<U16Vec, I16Vec>(data, begin, end, mask);
}

// The exponent bits of each element type.
uint32_t exponentMask(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return 0x7f800000u;
    case DType::BF16:
      return 0x7f80u;
    case DType::F16:
      return 0x7c00u;
  }
  return 0;
}

}  // namespace

NonFiniteCount countNonFinite(const void* data, size_t elements, DType dtype) {
  const size_t size = dtypeSize(dtype);
  const uint32_t mask = exponentMask(dtype);
  const auto* bytes = static_cast<const unsigned char*>(data);
  auto scan = [&](size_t begin, size_t end) {
    return size == 4 ? scan32(bytes, begin, end, mask) : scan16(bytes, begin, end, static_cast<uint16_t>(mask));
  };
  ThreadPool& pool = ThreadPool::shared();
  size_t pieces = std::min<size_t>(elements * size / kGrainBytes, 4 * static_cast<size_t>(pool.threads()));
  if (pieces <= 1) return scan(0, elements);
  // Whole blocks per piece, so only the last one has a scalar tail.
  const size_t perBlock = kBlockBytes / size;
  const size_t step = ((elements + pieces - 1) / pieces + perBlock - 1) / perBlock * perBlock;
  std::vector<NonFiniteCount> parts(pieces);
  pool.parallelFor(pieces, [&](size_t piece) {
    size_t begin = piece * step;
    if (begin < elements) parts[piece] = scan(begin, std::min(elements, begin + step));
  });
  NonFiniteCount total;
  for (const NonFiniteCount& part : parts) {
    if (part.count > 0 && total.count == 0) total.first = part.first;
    total.count += part.count;
  }
  return total;
}

}  // namespace ts::cpu
