// The decode attention kernel alone, beside a plain streaming read, in one process: the KV read
// rate of attendDecode for shapes of DecodeShape (warps, ring stages, keys per tile, L2 prefetch,
// ring rows)
// at Llama-3.2-1B's heads (8 kv heads, 4 query heads each, 64 wide), pages of 16 in order, every
// sequence at one context. Each shape's output is checked against the default shape's.
//   nvcc -std=c++20 -O3 -arch=sm_90 -I native/src -o /tmp/adp e2e/bench/attention_decode_probe.cu
//   /tmp/adp 256 8192 [64 2048 ...]        (pairs of batch, context)
// VARIANT=i,j runs those variants alone; SPLITS=8,16 runs each shape once per split count (0: the
// engine's choice); SCRUB=1 writes 256 MB between timed launches, so no launch finds the KV in L2;
// PAGE=n pages of n slots. The last column is the output's largest difference from float64.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/cuda/attention_decode.cuh"
#include "kernels/cuda/attention_splits.h"
#include "runtime_check.h"

using namespace ts::cuda;
using T = __nv_bfloat16;

constexpr int kKvHeads = 8, kGroup = 4, kDim = 64;
int pageSize = 16;  // slots a page; PAGE=n for others

__global__ void streamRead(const uint4* data, size_t count, unsigned* sink) {
  unsigned acc = 0;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count; i += size_t(gridDim.x) * blockDim.x) {
    uint4 v = __ldcs(data + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x12345678u) *sink = acc;
}

__global__ void fillRandom(uint16_t* data, size_t count, unsigned seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count; i += size_t(gridDim.x) * blockDim.x) {
    unsigned x = static_cast<unsigned>(i) * 2654435761u ^ seed;
    x ^= x >> 13, x *= 0x5bd1e995u, x ^= x >> 15;
    float value = (static_cast<int>(x % 2001) - 1000) / 1000.0f;
    data[i] = __bfloat16_as_ushort(__float2bfloat16(value));
  }
}

constexpr size_t kScrubBytes = size_t(256) << 20;
void* scrub = nullptr;  // set when SCRUB=1

float timeMs(const std::function<void()>& launch, int reps) {
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  launch();
  CHECK(cudaDeviceSynchronize());
  float total = 0;
  for (int i = 0; i < (scrub ? reps : 1); ++i) {
    if (scrub) CHECK(cudaMemsetAsync(scrub, i, kScrubBytes));
    CHECK(cudaEventRecord(start));
    for (int j = 0; j < (scrub ? 1 : reps); ++j) launch();
    CHECK(cudaEventRecord(stop));
    CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, start, stop));
    total += ms;
  }
  CHECK(cudaGetLastError());
  CHECK(cudaEventDestroy(start));
  CHECK(cudaEventDestroy(stop));
  return total / reps;
}

struct Batch {
  int batch, context, splits;
  size_t kvBytes;
  AttentionParams params;
  dim3 grid;
  std::vector<void*> buffers;
};

template <typename P>
P* deviceArray(Batch& b, size_t count) {
  void* at = nullptr;
  CHECK(cudaMalloc(&at, count * sizeof(P)));
  b.buffers.push_back(at);
  return static_cast<P*>(at);
}

template <typename P>
P* upload(Batch& b, const std::vector<P>& host) {
  P* at = deviceArray<P>(b, host.size());
  CHECK(cudaMemcpy(at, host.data(), host.size() * sizeof(P), cudaMemcpyHostToDevice));
  return at;
}

// One decode token per sequence, splits chosen as CudaKernels::attention chooses them (or `splits`)
// with `resident` blocks at once.
Batch makeBatch(int batch, int context, int multiprocessors, long long resident, int splits) {
  Batch b{batch, context};
  int pagesPerSeq = (context + pageSize - 1) / pageSize;
  size_t slots = size_t(batch) * pagesPerSeq * pageSize;
  size_t cacheElements = slots * kKvHeads * kDim;
  b.kvBytes = size_t(batch) * context * kKvHeads * kDim * 2 * sizeof(T);
  auto* kCache = deviceArray<uint16_t>(b, cacheElements);
  auto* vCache = deviceArray<uint16_t>(b, cacheElements);
  auto* q = deviceArray<uint16_t>(b, size_t(batch) * kKvHeads * kGroup * kDim);
  fillRandom<<<1024, 256>>>(kCache, cacheElements, 1);
  fillRandom<<<1024, 256>>>(vCache, cacheElements, 2);
  fillRandom<<<64, 256>>>(q, size_t(batch) * kKvHeads * kGroup * kDim, 3);
  std::vector<int32_t> queryStart(batch + 1), seqLens(batch, context), pages(size_t(batch) * pagesPerSeq);
  for (int s = 0; s <= batch; ++s) queryStart[s] = s;
  for (size_t i = 0; i < pages.size(); ++i) pages[i] = static_cast<int32_t>(i);
  std::vector<int2> items(batch);
  for (int s = 0; s < batch; ++s) items[s] = make_int2(s, 0);
  long long blocks = static_cast<long long>(batch) * kKvHeads;
  b.splits = splits > 0 ? splits : decodeKeySplits(blocks, multiprocessors, resident, kMaxSplits);
  long long rowsAll = static_cast<long long>(batch) * kKvHeads * kGroup;

  AttentionParams& p = b.params;
  p.out = deviceArray<uint16_t>(b, rowsAll * kDim);
  p.q = q;
  p.kCache = kCache;
  p.vCache = vCache;
  p.queryStart = upload(b, queryStart);
  p.seqLens = upload(b, seqLens);
  p.pageTable = upload(b, pages);
  p.pageTableStride = pagesPerSeq;
  p.pageSize = pageSize;
  p.qHeads = kKvHeads * kGroup;
  p.kvHeads = kKvHeads;
  p.headDim = kDim;
  p.qStride = kKvHeads * kGroup * kDim;
  p.group = kGroup;
  p.splits = b.splits;
  p.scaleLog2 = 0.125f * 1.4426950408889634f;
  p.vectorKv = true;
  p.planSettled = true;
  p.rowsAll = rowsAll;
  p.items = upload(b, items);
  p.itemCount = upload(b, std::vector<int>{batch});
  p.splitCounters = deviceArray<int>(b, blocks);
  CHECK(cudaMemset(p.splitCounters, 0, blocks * sizeof(int)));
  p.partialAcc = deviceArray<float>(b, size_t(b.splits) * rowsAll * kDim);
  p.partialStats = deviceArray<float2>(b, size_t(b.splits) * rowsAll);
  b.grid = dim3(batch, kKvHeads, b.splits);
  CHECK(cudaDeviceSynchronize());
  return b;
}

float bf16(uint16_t bits) {
  uint32_t word = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &word, 4);
  return value;
}

std::vector<float> output(const Batch& b) {
  size_t count = b.params.rowsAll * kDim;
  std::vector<uint16_t> bits(count);
  CHECK(cudaMemcpy(bits.data(), b.params.out, count * 2, cudaMemcpyDeviceToHost));
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = bf16(bits[i]);
  return values;
}

// The largest difference between `out` and softmax(q k^T / 8) v in double precision, over the first
// and last sequences.
double referenceDiff(const Batch& b, const std::vector<float>& out) {
  const AttentionParams& p = b.params;
  int pagesPerSeq = p.pageTableStride;
  size_t seqElements = size_t(pagesPerSeq) * pageSize * kKvHeads * kDim, qElements = size_t(kKvHeads) * kGroup * kDim;
  double worst = 0;
  for (int seq : {0, b.batch - 1}) {
    std::vector<uint16_t> k(seqElements), v(seqElements), q(qElements);
    CHECK(cudaMemcpy(k.data(), static_cast<const uint16_t*>(p.kCache) + seq * seqElements, seqElements * 2, cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(v.data(), static_cast<const uint16_t*>(p.vCache) + seq * seqElements, seqElements * 2, cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(q.data(), static_cast<const uint16_t*>(p.q) + seq * qElements, qElements * 2, cudaMemcpyDeviceToHost));
    for (int head = 0; head < kKvHeads * kGroup; ++head) {
      int kvHead = head / kGroup;
      // The sequence's pages are consecutive, so its key k is slot k of the copied range.
      auto at = [&](int key, int d) { return ts::KvLayout{kKvHeads, kDim, pageSize}.offset(key, kvHead) + d; };
      std::vector<double> scores(b.context);
      double top = -INFINITY, total = 0;
      for (int key = 0; key < b.context; ++key) {
        double dot = 0;
        for (int d = 0; d < kDim; ++d)
          dot += bf16(q[head * kDim + d]) * bf16(k[at(key, d)]);
        scores[key] = dot * 0.125;
        top = std::max(top, scores[key]);
      }
      for (double& score : scores) total += score = std::exp(score - top);
      for (int d = 0; d < kDim; ++d) {
        double value = 0;
        for (int key = 0; key < b.context; ++key) value += scores[key] * bf16(v[at(key, d)]);
        worst = std::max(worst, std::fabs(value / total - out[(size_t(seq) * kKvHeads * kGroup + head) * kDim + d]));
      }
    }
  }
  return worst;
}

template <typename Shape>
float runShape(Batch& b) {
  auto kernel = attendDecode<T, kDim, Shape>;
  CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Shape::kBytes)));
  return timeMs([&] { kernel<<<b.grid, Shape::kWarps * 32, Shape::kBytes>>>(b.params); }, 20);
}

struct Variant {
  std::string name;
  std::function<float(Batch&)> run;
};

template <int Warps, int Stages, int Keys, int Prefetch, bool Padded, int MinSplitKeys = 512>
Variant variant() {
  using Shape = DecodeShape<kDim, Warps, Stages, Keys, Prefetch, Padded, MinSplitKeys>;
  char name[160];
  std::snprintf(name, sizeof name, "warps %d, stages %d, keys %d, L2 prefetch %d, %s rows (%zu KB), splits of %d+ keys",
                Warps, Stages, Keys, Prefetch, Padded ? "padded" : "swizzled", Shape::kBytes / 1024, MinSplitKeys);
  return {name, [](Batch& b) { return runShape<Shape>(b); }};
}

// "1,4,8" as {1, 4, 8}.
std::vector<int> numbers(const char* list) {
  std::vector<int> values;
  std::istringstream items(list);
  for (std::string item; std::getline(items, item, ',');) values.push_back(std::stoi(item));
  return values;
}

int main(int argc, char** argv) {
  std::vector<std::pair<int, int>> shapes;
  for (int i = 1; i + 1 < argc; i += 2) shapes.emplace_back(std::atoi(argv[i]), std::atoi(argv[i + 1]));
  if (shapes.empty()) shapes = {{256, 8192}, {64, 8192}, {8, 8192}, {128, 2048}, {256, 2048}};
  if (const char* page = std::getenv("PAGE")) pageSize = std::atoi(page);
  int multiprocessors = 0;
  CHECK(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, 0));

  size_t streamCount = (size_t(8) << 30) / sizeof(uint4);
  uint4* stream = nullptr;
  unsigned* sink = nullptr;
  CHECK(cudaMalloc(&stream, streamCount * sizeof(uint4)));
  CHECK(cudaMalloc(&sink, sizeof(unsigned)));
  CHECK(cudaMemset(stream, 1, streamCount * sizeof(uint4)));
  float streamMs = timeMs([&] { streamRead<<<multiprocessors * 8, 512>>>(stream, streamCount, sink); }, 10);
  std::printf("streaming read of 8 GiB: %.2f TB/s\n\n", streamCount * sizeof(uint4) / streamMs / 1e9);
  CHECK(cudaFree(stream));
  if (const char* on = std::getenv("SCRUB"); on && std::strcmp(on, "1") == 0) CHECK(cudaMalloc(&scrub, kScrubBytes));

  int perMultiprocessor = decodeBlocksPerMultiprocessor<T, kDim>();
  long long resident = static_cast<long long>(perMultiprocessor) * multiprocessors;
  std::printf("production shape: %d blocks per multiprocessor, %lld resident; L2 scrub %s\n\n", perMultiprocessor,
              resident, scrub ? "on" : "off");

  // The first is the production shape (DecodeShape<64>'s defaults), the second the one before it;
  // 9-11 split at 128, 256, 1024 keys; 12-16 have smaller rings (more blocks resident).
  std::vector<Variant> variants = {
      variant<4, 3, 16, 128, true>(), variant<4, 2, 32, 128, true>(), variant<4, 4, 16, 0, false>(),
      variant<4, 3, 16, 0, false>(),  variant<4, 3, 16, 0, true>(),   variant<4, 4, 16, 128, true>(),
      variant<4, 2, 32, 0, true>(),   variant<8, 3, 16, 128, true>(), variant<2, 4, 16, 128, true>(),
      variant<4, 3, 16, 128, true, 128>(), variant<4, 3, 16, 128, true, 256>(), variant<4, 3, 16, 128, true, 1024>(),
      variant<2, 2, 32, 128, true>(),      variant<2, 3, 32, 128, true>(),      variant<4, 2, 16, 128, true>(),
      variant<1, 4, 32, 128, true>(),      variant<2, 4, 32, 128, true>(),
  };

  if (const char* only = std::getenv("VARIANT")) {
    std::vector<Variant> chosen;
    for (int i : numbers(only)) chosen.push_back(variants.at(i));
    variants = chosen;
  }
  // SPLITS=4,8,16,32: each shape once per split count instead of the count CudaKernels chooses.
  std::vector<int> splitCounts = {0};
  if (const char* list = std::getenv("SPLITS")) splitCounts = numbers(list);

  std::printf("| batch | context | splits | shape | us | KV TB/s | max diff vs first | vs float64 |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (auto [batch, context] : shapes) {
    for (int splits : splitCounts) {
      Batch b = makeBatch(batch, context, multiprocessors, resident, splits);
      // Every shape runs once untimed first, so none pays for the clocks settling after the fill.
      for (const Variant& v : variants) v.run(b);
      std::vector<float> reference;
      for (const Variant& v : variants) {
        float ms = v.run(b);
        std::vector<float> out = output(b);
        if (reference.empty()) reference = out;
        float diff = 0;
        for (size_t i = 0; i < out.size(); ++i) diff = std::max(diff, std::fabs(out[i] - reference[i]));
        std::printf("| %d | %d | %d | %s | %.1f | %.2f | %.3g | %.3g |\n", batch, context, b.splits, v.name.c_str(),
                    ms * 1e3, b.kvBytes / ms / 1e9, diff, referenceDiff(b, out));
        std::fflush(stdout);
      }
      for (void* at : b.buffers) CHECK(cudaFree(at));
    }
  }
  return 0;
}
