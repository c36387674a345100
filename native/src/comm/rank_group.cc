#include "comm/rank_group.h"

#include <map>
#include <stdexcept>

namespace ts::comm {
namespace {

const char* nameOf(Collective kind) { return kind == Collective::AllReduceSum ? "allReduceSum" : "allGather"; }

std::string describe(const Contribution& c) {
  std::string rows = c.kind == Collective::AllGather ? ", rows " + std::to_string(c.rows) : "";
  return std::string(nameOf(c.kind)) + "(count " + std::to_string(c.count) + rows + ", dtype " +
         std::to_string(static_cast<int>(c.dtype)) + ")";
}

}  // namespace

std::shared_ptr<RankGroup> RankGroup::join(const std::string& id, int worldSize, int rank) {
  static std::mutex registryMutex;
  static std::map<std::string, std::weak_ptr<RankGroup>> registry;
  if (worldSize < 1) throw std::invalid_argument("world size must be at least 1, got " + std::to_string(worldSize));
  if (rank < 0 || rank >= worldSize) {
    throw std::invalid_argument("rank " + std::to_string(rank) + " is outside world size " + std::to_string(worldSize));
  }
  std::lock_guard<std::mutex> lock(registryMutex);
  std::shared_ptr<RankGroup> group = registry[id].lock();
  if (!group || group->vacant()) {  // a closed group's communicators may outlive it
    group = std::make_shared<RankGroup>(id, worldSize);
    registry[id] = group;
  }
  if (group->worldSize() != worldSize) {
    throw std::invalid_argument("communicator group '" + id + "' has world size " +
                                std::to_string(group->worldSize()) + ", not " + std::to_string(worldSize));
  }
  group->take(rank);
  return group;
}

RankGroup::RankGroup(std::string id, int worldSize)
    : id_(std::move(id)), worldSize_(worldSize), joined_(worldSize), present_(worldSize), posted_(worldSize) {}

bool RankGroup::vacant() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (bool joined : joined_) {
    if (joined) return false;
  }
  return true;
}

void RankGroup::take(int rank) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!broken_.empty()) throw std::runtime_error(broken_);
  if (joined_[rank]) {
    throw std::invalid_argument("rank " + std::to_string(rank) + " of communicator group '" + id_ +
                                "' is already taken");
  }
  joined_[rank] = true;
}

void RankGroup::leave(int rank) {
  std::lock_guard<std::mutex> lock(mutex_);
  joined_[rank] = false;
  bool othersRemain = false;
  for (bool joined : joined_) othersRemain = othersRemain || joined;
  if (othersRemain && broken_.empty()) {
    broken_ = "communicator group '" + id_ + "' is broken: rank " + std::to_string(rank) + " closed its communicator";
  }
  changed_.notify_all();
}

std::vector<Contribution> RankGroup::gather(int rank, const Contribution& mine, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  posted_[rank] = mine;
  await(lock, rank, describe(mine).c_str(), timeout);
  if (!roundError_.empty()) throw std::invalid_argument(roundError_);
  return posted_;
}

void RankGroup::finish(int rank, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  await(lock, rank, "the end of a collective", timeout);
}

void RankGroup::await(std::unique_lock<std::mutex>& lock, int rank, const char* phase,
                      std::chrono::milliseconds timeout) {
  if (!broken_.empty()) throw std::runtime_error(broken_);
  const uint64_t round = generation_;
  present_[rank] = true;
  if (++arrivedCount_ == worldSize_) {
    roundError_ = mismatch();
    arrivedCount_ = 0;
    present_.assign(worldSize_, false);
    ++generation_;
    changed_.notify_all();
    return;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (generation_ == round && broken_.empty()) {
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout && generation_ == round && broken_.empty()) {
      broken_ = "communicator group '" + id_ + "' is broken: rank " + std::to_string(rank) + " waited " +
                std::to_string(timeout.count()) + " ms in " + phase + " for " + missingRanks() +
                ", which never arrived";
      changed_.notify_all();
    }
  }
  if (generation_ == round) throw std::runtime_error(broken_);
}

std::string RankGroup::mismatch() const {
  const Contribution& first = posted_[0];
  for (int r = 1; r < worldSize_; ++r) {
    const Contribution& other = posted_[r];
    if (other.kind != first.kind || other.count != first.count || other.rows != first.rows ||
        other.dtype != first.dtype) {
      return "communicator group '" + id_ + "': ranks disagree on the collective: rank 0 called " +
             describe(first) + ", rank " + std::to_string(r) + " called " + describe(other);
    }
  }
  return "";
}

std::string RankGroup::missingRanks() const {
  std::string out;
  for (int r = 0; r < worldSize_; ++r) {
    if (present_[r]) continue;
    out += out.empty() ? "rank " : ", ";
    out += std::to_string(r);
  }
  return out;
}

}  // namespace ts::comm
