#include "comm/cpu_communicator.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "kernels/cpu/element_types.h"

namespace ts::comm {
namespace {

// The elements rank `rank` reduces for everyone: an even split, the remainder to the last ranks.
struct Slice {
  size_t begin, end;
};
Slice sliceOf(size_t count, int worldSize, int rank) {
  return {count * rank / worldSize, count * (rank + 1) / worldSize};
}

template <typename T>
void reduceSlice(const std::vector<Contribution>& all, Slice slice) {
  constexpr size_t kBlock = 1024;
  float sums[kBlock];
  for (size_t start = slice.begin; start < slice.end; start += kBlock) {
    size_t n = std::min(kBlock, slice.end - start);
    const T* first = cpu::at<T>(all[0].input) + start;
    for (size_t i = 0; i < n; ++i) sums[i] = cpu::toFloat(first[i]);
    for (size_t r = 1; r < all.size(); ++r) {
      const T* values = cpu::at<T>(all[r].input) + start;
      for (size_t i = 0; i < n; ++i) sums[i] += cpu::toFloat(values[i]);
    }
    for (const Contribution& c : all) {
      T* out = cpu::at<T>(c.input) + start;
      for (size_t i = 0; i < n; ++i) out[i] = cpu::fromFloat<T>(sums[i]);
    }
  }
}

void checkAddress(uintptr_t address, const char* name) {
  if (address == 0) throw std::invalid_argument(std::string(name) + " must be a device address, got 0");
}

}  // namespace

CpuCommunicator::CpuCommunicator(const std::string& groupId, int worldSize, int rank,
                                 std::chrono::milliseconds timeout)
    : group_(RankGroup::join(groupId, worldSize, rank)), rank_(rank), timeout_(timeout) {}

CpuCommunicator::~CpuCommunicator() { close(); }

void CpuCommunicator::close() {
  if (closed_) return;
  closed_ = true;
  group_->leave(rank_);
}

RankGroup& CpuCommunicator::group(const char* what) {
  if (closed_) throw std::logic_error(std::string(what) + ": the communicator is closed");
  return *group_;
}

void CpuCommunicator::allReduceSum(uintptr_t data, size_t count, DType dtype) {
  RankGroup& g = group("allReduceSum");
  checkAddress(data, "data");
  std::vector<Contribution> all = g.gather(rank_, {Collective::AllReduceSum, data, 0, count, 1, dtype}, timeout_);
  if (all.size() == 1) return;
  Slice slice = sliceOf(count, static_cast<int>(all.size()), rank_);
  cpu::withElementType(dtype, [&](auto type) { reduceSlice<decltype(type)>(all, slice); });
  g.finish(rank_, timeout_);
}

void CpuCommunicator::allGather(uintptr_t input, size_t count, DType dtype, uintptr_t out, size_t rows) {
  RankGroup& g = group("allGather");
  checkAddress(input, "input");
  checkAddress(out, "out");
  std::vector<Contribution> all = g.gather(rank_, {Collective::AllGather, input, out, count, rows, dtype}, timeout_);
  // Checked after the meeting, where every rank has the same count and rows: all throw alike.
  if (rows == 0 || count % rows != 0) {
    throw std::invalid_argument("allGather: count " + std::to_string(count) + " is not a whole number of " +
                                std::to_string(rows) + " rows");
  }
  size_t pieceBytes = count / rows * dtypeSize(dtype);
  size_t outRowBytes = pieceBytes * all.size();
  for (const Contribution& c : all) {
    for (size_t row = 0; row < rows; ++row) {
      auto* to = reinterpret_cast<uint8_t*>(c.output + row * outRowBytes + rank_ * pieceBytes);
      std::memmove(to, reinterpret_cast<const uint8_t*>(input + row * pieceBytes), pieceBytes);
    }
  }
  if (all.size() > 1) g.finish(rank_, timeout_);
}

}  // namespace ts::comm
