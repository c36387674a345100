// How many parts the keys of each (item, kv head) block of the tensor-core decode kernel split
// into. The host does not know the sequences' lengths (a CUDA graph replays one count for every
// context), so the count depends only on the blocks and the GPU; the kernel takes fewer splits
// for items of few keys (DecodeShape::kMinSplitKeys each at least).
//  - Up to two blocks per multiprocessor: split until there are about two per multiprocessor.
//  - More: the blocks run in waves of `resident` at once, and a wave lasts as long as its blocks,
//    however few they are, so the count is the one of least ceil(blocks x splits / resident) x
//    (1 / splits + kSplitOverhead), kSplitOverhead being a block's fixed cost (its start, its
//    partial softmax, the merge) as a share of an unsplit block; ties go to fewer splits.
// Measured on the H200 with the earlier 72 KB DecodeShape (e2e/bench/attention_decode_probe.cu,
// SCRUB=1, 132 multiprocessors, 3 blocks resident on each, 4 with today's; 8 kv heads): the best
// counts were 16 at batch 1 x 8192 keys, 8 at 4 x 8192, 4 at 8 x 8192, 2 at 16 x 4096, 1 at 32 x
// 2048, 3 at 64 x 2048 (1.29 waves unsplit), 1 at 256 x 512 and 256 x 2048.
#pragma once

#include <algorithm>
#include <cmath>

namespace ts::cuda {

constexpr double kSplitOverhead = 1.0 / 8;

inline int decodeKeySplits(long long blocks, long long multiprocessors, long long resident, int maxSplits) {
  blocks = std::max(1LL, blocks), resident = std::max(1LL, resident);
  if (blocks <= 2 * multiprocessors) {
    long long splits = std::llround(2.0 * static_cast<double>(multiprocessors) / static_cast<double>(blocks));
    return static_cast<int>(std::clamp<long long>(splits, 1, maxSplits));
  }
  int best = 1;
  double bestCost = 0;
  for (int splits = 1; splits <= maxSplits; ++splits) {
    long long waves = (blocks * splits + resident - 1) / resident;
    double cost = static_cast<double>(waves) * (1.0 / splits + kSplitOverhead);
    if (splits == 1 || cost < bestCost * (1 - 1e-9)) best = splits, bestCost = cost;
  }
  return best;
}

}  // namespace ts::cuda
