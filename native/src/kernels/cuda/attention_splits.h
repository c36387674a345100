// How many parts the keys of each (item, kv head) block of the tensor-core decode kernel split
// into. The host does not know the sequences' lengths (a CUDA graph replays one count for every
// context), so the count depends only on how many blocks there are and how many run at once. The
// blocks run in waves of `resident` (blocks per multiprocessor x multiprocessors), and a wave
// lasts as long as its blocks' key range, whatever its share of the slots: a block's read rate
// is bounded by its own loads in flight, not by the memory, until a wave is full. So the count
// is the one of least ceil(blocks x splits / resident) x (1 / splits + kSplitOverhead), where
// kSplitOverhead is a block's fixed cost (its start, its partial softmax, the merge) as a share of
// one block's whole key range; ties go to fewer splits.
#pragma once

#include <algorithm>

namespace ts::cuda {

constexpr double kSplitOverhead = 1.0 / 64;

inline int decodeKeySplits(long long blocks, long long resident, int maxSplits) {
  int best = 1;
  double bestCost = 0;
  for (int splits = 1; splits <= maxSplits; ++splits) {
    long long waves = (blocks * splits + resident - 1) / std::max(1LL, resident);
    double cost = static_cast<double>(waves) * (1.0 / splits + kSplitOverhead);
    if (splits == 1 || cost < bestCost * (1 - 1e-9)) best = splits, bestCost = cost;
  }
  return best;
}

}  // namespace ts::cuda
