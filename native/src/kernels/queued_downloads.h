// The bookkeeping of queued downloads (Kernels::queueDownload / takeDownload), shared by the
// backends: kQueuedDownloads slots, each holding one ticket from its queueing until it is taken.
#pragma once

#include <array>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace ts {

constexpr int kQueuedDownloads = 4;

class QueuedDownloads {
 public:
  // The slot for a new download of `bytes`, and its ticket in `ticket`; throws when that slot's
  // download is not taken yet.
  int queue(size_t bytes, int& ticket) {
    ticket = next_;
    int slot = ticket % kQueuedDownloads;
    if (slots_[slot].pending) {
      throw std::logic_error("queueDownload: " + std::to_string(kQueuedDownloads) +
                             " downloads are queued and not taken: take one first");
    }
    slots_[slot] = {ticket, bytes, true};
    next_ = next_ == kLastTicket ? 0 : next_ + 1;
    return slot;
  }

  // The slot of `ticket`, queued and not taken, for `bytes` bytes; it is free once this returns.
  int take(int ticket, size_t bytes) {
    int slot = ticket >= 0 ? ticket % kQueuedDownloads : 0;
    const Slot& s = slots_[slot];
    if (ticket < 0 || !s.pending || s.ticket != ticket) {
      throw std::invalid_argument("takeDownload: ticket " + std::to_string(ticket) +
                                  " is not a queued download (each is taken once)");
    }
    if (bytes != s.bytes) {
      throw std::invalid_argument("takeDownload: ticket " + std::to_string(ticket) + " holds " +
                                  std::to_string(s.bytes) + " bytes, the host buffer has " + std::to_string(bytes));
    }
    slots_[slot].pending = false;
    return slot;
  }

 private:
  static constexpr int kLastTicket = 1 << 30;
  struct Slot {
    int ticket = -1;
    size_t bytes = 0;
    bool pending = false;
  };
  std::array<Slot, kQueuedDownloads> slots_{};
  int next_ = 0;
};

}  // namespace ts
