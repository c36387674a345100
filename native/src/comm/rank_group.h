// The meeting point of the ranks of one communicator group inside one process: a registry by
// group id, and a two-phase barrier (everyone has posted, everyone is done) with a deadline.
// A missed deadline, or a rank that closes while others are still in the group, breaks the
// group for good; it is gone once every rank has closed, and the id can then be used again.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/kernels.h"

namespace ts::comm {

enum class Collective { AllReduceSum, AllGather };

// What one rank brings to a collective; every rank's must agree on kind, count, rows and dtype.
struct Contribution {
  Collective kind = Collective::AllReduceSum;
  uintptr_t input = 0;   // all-reduce: reduced in place; all-gather: this rank's piece
  uintptr_t output = 0;  // all-gather: worldSize * count elements
  size_t count = 0;
  size_t rows = 1;  // all-gather: the piece is [rows, count / rows], gathered along its columns
  DType dtype = DType::F32;
};

class RankGroup {
 public:
  // Joins (or creates) the group `id`; throws when the world size differs from the group's,
  // the rank is out of range or taken, or the group is broken.
  static std::shared_ptr<RankGroup> join(const std::string& id, int worldSize, int rank);

  RankGroup(std::string id, int worldSize);
  const std::string& id() const { return id_; }
  int worldSize() const { return worldSize_; }

  // Posts `mine` and waits until every rank has posted; returns every rank's contribution in
  // rank order. Throws on a mismatch between ranks (on every rank, the group stays usable),
  // on the deadline (the group breaks) or when the group is broken.
  std::vector<Contribution> gather(int rank, const Contribution& mine, std::chrono::milliseconds timeout);
  // Waits until every rank has finished its share of the collective `gather` started.
  void finish(int rank, std::chrono::milliseconds timeout);
  // Gives the rank back; breaks the group when other ranks are still in it.
  void leave(int rank);

 private:
  void take(int rank);
  bool vacant();  // every rank has closed
  // One barrier round: returns when all ranks arrived, throws on the deadline or a break.
  void await(std::unique_lock<std::mutex>& lock, int rank, const char* phase, std::chrono::milliseconds timeout);
  std::string mismatch() const;
  std::string missingRanks() const;

  const std::string id_;
  const int worldSize_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<bool> joined_;
  std::vector<bool> present_;  // arrived at the current barrier round
  int arrivedCount_ = 0;
  uint64_t generation_ = 0;  // barrier rounds completed
  std::vector<Contribution> posted_;
  std::string roundError_;  // the mismatch of the collective now gathered, empty when none
  std::string broken_;      // why the group is unusable, empty while it works
};

}  // namespace ts::comm
