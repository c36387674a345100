// Paged causal attention. Work is split into items of (sequence, kv head, up to kQueryBlock
// query tokens): every query row of the item (its tokens × the kv head's query heads) shares
// one pass over the keys, kKeyBlock at a time, with an online softmax per row.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/kv_layout.h"

namespace ts::cpu {
namespace {

constexpr int kQueryBlock = 8;
constexpr int kKeyBlock = 32;

struct WorkItem {
  int seq;
  int kvHead;
  int firstToken;  // batch rows [firstToken, endToken)
  int endToken;
  int firstPosition;  // position of firstToken in its sequence
};

struct RowState {
  float* query;  // [rows, headDim], pre-multiplied by the scale
  float* acc;    // [rows, headDim]
  float* maxScore;
  float* sum;
  const int* lastKey;  // the last position each row may see
  int rows;
};

// Folds keys [firstKey, firstKey + keys) into every row that may see them.
TS_SIMD_CLONES void attendKeyBlock(const RowState& state, const float* const* kRows, const float* const* vRows,
                                   int firstKey, int keys, int headDim) {
  float scores[kKeyBlock];
  for (int r = 0; r < state.rows; ++r) {
    int visible = std::min(keys, state.lastKey[r] - firstKey + 1);
    if (visible <= 0) continue;
    const float* q = state.query + static_cast<size_t>(r) * headDim;
    float blockMax = -std::numeric_limits<float>::infinity();
    for (int j = 0; j < visible; ++j) {
      scores[j] = dot(q, kRows[j], headDim);
      blockMax = std::max(blockMax, scores[j]);
    }
    float previousMax = state.maxScore[r];
    float newMax = std::max(previousMax, blockMax);
    float correction = previousMax == -std::numeric_limits<float>::infinity() ? 0.0f : std::exp(previousMax - newMax);
    float* acc = state.acc + static_cast<size_t>(r) * headDim;
    float sum = state.sum[r] * correction;
    for (int j = 0; j < visible; ++j) {
      float p = std::exp(scores[j] - newMax);
      sum += p;
      scaleAndAdd(acc, j == 0 ? correction : 1.0f, p, vRows[j], headDim);
    }
    state.sum[r] = sum;
    state.maxScore[r] = newMax;
  }
}

struct Problem {
  uintptr_t out, q, kCache, vCache;
  const AttentionBatch* batch;
  int qHeads, kvHeads, headDim, qStride;
  float scale;
};

template <typename T>
void attendItem(const Problem& p, const WorkItem& item) {
  int group = p.qHeads / p.kvHeads;
  int headDim = p.headDim;
  int rows = (item.endToken - item.firstToken) * group;
  thread_local std::vector<float> query, acc, maxScore, sum, keys, values;
  thread_local std::vector<int> lastKey;
  query.resize(static_cast<size_t>(rows) * headDim);
  acc.assign(static_cast<size_t>(rows) * headDim, 0.0f);
  maxScore.assign(rows, -std::numeric_limits<float>::infinity());
  sum.assign(rows, 0.0f);
  lastKey.resize(rows);
  keys.resize(static_cast<size_t>(kKeyBlock) * headDim);
  values.resize(static_cast<size_t>(kKeyBlock) * headDim);

  for (int t = item.firstToken; t < item.endToken; ++t) {
    for (int g = 0; g < group; ++g) {
      int r = (t - item.firstToken) * group + g;
      const T* source = at<const T>(p.q) + static_cast<size_t>(t) * p.qStride + (item.kvHead * group + g) * headDim;
      float* row = query.data() + static_cast<size_t>(r) * headDim;
      loadRow(row, source, headDim);
      for (int i = 0; i < headDim; ++i) row[i] *= p.scale;
      lastKey[r] = item.firstPosition + (t - item.firstToken);
    }
  }
  RowState state{query.data(), acc.data(), maxScore.data(), sum.data(), lastKey.data(), rows};

  const AttentionBatch& batch = *p.batch;
  const int32_t* pages = batch.pageTable + static_cast<size_t>(item.seq) * batch.pageTableStride;
  KvLayout layout{p.kvHeads, headDim, batch.pageSize};
  int keyCount = item.firstPosition + (item.endToken - item.firstToken);
  const float* kRows[kKeyBlock];
  const float* vRows[kKeyBlock];
  for (int firstKey = 0; firstKey < keyCount; firstKey += kKeyBlock) {
    int block = std::min(kKeyBlock, keyCount - firstKey);
    for (int j = 0; j < block; ++j) {
      int key = firstKey + j;
      size_t offset = layout.offset(pages[key / batch.pageSize], key % batch.pageSize, item.kvHead);
      const T* kSource = at<const T>(p.kCache) + offset;
      const T* vSource = at<const T>(p.vCache) + offset;
      if constexpr (std::is_same_v<T, float>) {
        kRows[j] = kSource;
        vRows[j] = vSource;
      } else {
        loadRow(keys.data() + static_cast<size_t>(j) * headDim, kSource, headDim);
        loadRow(values.data() + static_cast<size_t>(j) * headDim, vSource, headDim);
        kRows[j] = keys.data() + static_cast<size_t>(j) * headDim;
        vRows[j] = values.data() + static_cast<size_t>(j) * headDim;
      }
    }
    attendKeyBlock(state, kRows, vRows, firstKey, block, headDim);
  }

  for (int r = 0; r < rows; ++r) {
    int t = item.firstToken + r / group;
    int head = item.kvHead * group + r % group;
    float* row = acc.data() + static_cast<size_t>(r) * headDim;
    float inverse = 1.0f / sum[r];
    for (int i = 0; i < headDim; ++i) row[i] *= inverse;
    storeRow(at<T>(p.out) + (static_cast<size_t>(t) * p.qHeads + head) * headDim, row, headDim);
  }
}

[[noreturn]] void badBatch(const std::string& message) { throw std::invalid_argument("attention: " + message); }

// Validates the batch metadata and splits it into work items.
std::vector<WorkItem> planItems(const AttentionBatch& batch, int tokens, int kvHeads) {
  if (batch.queryStart[0] != 0) badBatch("queryStart[0] must be 0, got " + std::to_string(batch.queryStart[0]));
  if (batch.queryStart[batch.numSeqs] != tokens) {
    badBatch("queryStart[numSeqs] must equal tokens (" + std::to_string(tokens) + "), got " +
             std::to_string(batch.queryStart[batch.numSeqs]));
  }
  std::vector<WorkItem> items;
  for (int s = 0; s < batch.numSeqs; ++s) {
    int first = batch.queryStart[s];
    int qLen = batch.queryStart[s + 1] - first;
    int seqLen = batch.seqLens[s];
    std::string which = "sequence " + std::to_string(s);
    if (qLen < 0) badBatch("queryStart must not decrease (" + which + ")");
    if (qLen > seqLen) badBatch(which + " has more query tokens (" + std::to_string(qLen) + ") than seqLen");
    long long pagesNeeded = (static_cast<long long>(seqLen) + batch.pageSize - 1) / batch.pageSize;
    if (pagesNeeded > batch.pageTableStride) badBatch(which + " needs more pages than pageTableStride");
    for (long long i = 0; i < pagesNeeded; ++i) {
      if (batch.pageTable[s * static_cast<size_t>(batch.pageTableStride) + i] < 0) {
        badBatch(which + " has a negative page index at " + std::to_string(i));
      }
    }
    for (int start = 0; start < qLen; start += kQueryBlock) {
      int end = std::min(qLen, start + kQueryBlock);
      for (int h = 0; h < kvHeads; ++h) items.push_back({s, h, first + start, first + end, seqLen - qLen + start});
    }
  }
  return items;
}

}  // namespace

void CpuKernels::attention(const AttentionArgs& a) {
  std::vector<WorkItem> items = planItems(a.batch, a.tokens, a.kvHeads);
  Problem problem{a.out, a.q, a.kCache, a.vCache, &a.batch, a.qHeads, a.kvHeads, a.headDim, a.qStride, a.scale};
  withElementType(a.dtype, [&](auto element) {
    using T = decltype(element);
    ThreadPool::shared().parallelFor(items.size(), [&](size_t i) { attendItem<T>(problem, items[i]); });
  });
}

}  // namespace ts::cpu
