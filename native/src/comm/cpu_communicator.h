// Collectives between the ranks of one process (rank workers as threads) on host memory: the
// CPU backend's twin of NCCL. Each rank reduces its own slice of the elements for everyone, in
// rank order (rank 0 + rank 1 + ...) in float32, so every rank ends with the same bits on every
// run. Calls block the calling thread until every rank of the group has made the same call.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "comm/rank_group.h"
#include "kernels/kernels.h"

namespace ts::comm {

class CpuCommunicator {
 public:
  // Throws when the rank is out of range or taken, or the group has another world size.
  CpuCommunicator(const std::string& groupId, int worldSize, int rank, std::chrono::milliseconds timeout);
  ~CpuCommunicator();
  CpuCommunicator(const CpuCommunicator&) = delete;
  CpuCommunicator& operator=(const CpuCommunicator&) = delete;

  int rank() const { return rank_; }
  int worldSize() const { return group_->worldSize(); }
  const std::string& groupId() const { return group_->id(); }

  // data[i] = sum over ranks r in order of rank r's data[i]; `count` elements of `dtype`.
  void allReduceSum(uintptr_t data, size_t count, DType dtype);
  // Each rank's input is [rows, count / rows]; `out` is [rows, worldSize * count / rows] with
  // rank r's columns at r * count / rows (rows = 1: the pieces back to back, in rank order).
  // The input must not overlap `out`, except as this rank's own place when rows = 1.
  void allGather(uintptr_t input, size_t count, DType dtype, uintptr_t out, size_t rows = 1);
  // Leaves the group; later calls throw. Idempotent.
  void close();

 private:
  RankGroup& group(const char* what);

  std::shared_ptr<RankGroup> group_;
  const int rank_;
  const std::chrono::milliseconds timeout_;
  bool closed_ = false;
};

}  // namespace ts::comm
