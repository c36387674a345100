#include "memory_saver.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace ts {
namespace {

size_t roundUp(size_t value, size_t multiple) { return (value + multiple - 1) / multiple * multiple; }

std::string tagName(const std::string& tag) { return tag.empty() ? "(untagged)" : tag; }

double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

MemorySaver::MemorySaver(std::unique_ptr<Device> device, size_t chunkBytes, bool keepBackups)
    : device_(std::move(device)),
      chunkBytes_(roundUp(std::max<size_t>(chunkBytes, 1), device_->granularity())),
      keepBackups_(keepBackups) {}

MemorySaver::~MemorySaver() {
  std::lock_guard lock(mutex_);
  try {
    device_->synchronize();
  } catch (...) {
  }
  for (auto& [id, a] : allocations_) {
    try {
      unmapChunks(a);
      dropBackup(a);
      device_->unreserve(a.address, a.reserved);
    } catch (...) {
    }
  }
}

uint64_t MemorySaver::allocate(size_t bytes, const std::string& tag, BackupMode mode, uintptr_t* address) {
  std::lock_guard lock(mutex_);
  if (bytes == 0) throw std::invalid_argument("allocate: size must be positive");
  if (tag.empty() && mode != BackupMode::None) {
    throw std::invalid_argument("allocate: untagged memory is never released, so it takes no backup");
  }
  if (!tag.empty() && paused_[tag]) {
    throw std::runtime_error("allocate: tag " + tag + " is paused; resume it first");
  }
  Allocation a;
  a.tag = tag;
  a.size = bytes;
  a.reserved = roundUp(bytes, device_->granularity());
  a.mode = mode;
  a.address = device_->reserve(a.reserved);
  std::vector<Allocation*> mapped;
  try {
    mapChunks(a, mapped);
    if (mode != BackupMode::None) ensureBackup(a);
  } catch (...) {
    unmapChunks(a);
    device_->unreserve(a.address, a.reserved);
    throw;
  }
  uint64_t id = nextId_++;
  *address = a.address;
  allocations_.emplace(id, std::move(a));
  return id;
}

void MemorySaver::free(uint64_t id) {
  std::lock_guard lock(mutex_);
  Allocation& a = find(id);
  if (a.backupOpen) throw std::runtime_error("free: the allocation's backup is open for writing");
  device_->synchronize();
  device_->kernels().forgetScratch(a.address, a.address + a.reserved);
  unmapChunks(a);
  dropBackup(a);
  device_->unreserve(a.address, a.reserved);
  allocations_.erase(id);
}

std::vector<std::string> MemorySaver::selectTags(const std::string& tag, bool paused) {
  const char* verb = paused ? "resume" : "pause";
  if (!tag.empty()) {
    if (paused_[tag] != paused) {
      throw std::runtime_error(std::string(verb) + ": tag " + tag + (paused ? " is not paused" : " is already paused"));
    }
    return {tag};
  }
  std::vector<std::string> tags;
  for (auto& [name, isPaused] : paused_) {
    if (isPaused == paused) tags.push_back(name);
  }
  return tags;
}

TransferReport MemorySaver::pause(const std::string& tag) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> tags = selectTags(tag, false);
  std::vector<Allocation*> members;
  for (auto& [id, a] : allocations_) {
    if (std::find(tags.begin(), tags.end(), a.tag) == tags.end()) continue;
    if (a.backupOpen) throw std::runtime_error("pause: a backup of tag " + a.tag + " is open for writing");
    members.push_back(&a);
  }
  TransferReport report;
  auto copyStart = std::chrono::steady_clock::now();
  device_->synchronize();
  for (Allocation* a : members) {
    bool upToDate = (a->mode == BackupMode::Tracked && a->clean && a->backupValid) || a->restorePending;
    if (a->mode == BackupMode::None || upToDate) continue;
    ensureBackup(*a);
    for (const Chunk& c : a->chunks) {
      device_->copyToHost(static_cast<char*>(a->backup) + c.offset, a->address + c.offset, c.bytes);
    }
    report.copiedBytes += a->size;
  }
  device_->synchronize();
  report.copyMs = msSince(copyStart);
  auto unmapStart = std::chrono::steady_clock::now();
  for (Allocation* a : members) {
    if (a->mode != BackupMode::None) a->backupValid = true;
    a->clean = a->backupValid;
    a->restorePending = false;
    for (const Chunk& c : a->chunks) report.physicalBytes += c.bytes;
    unmapChunks(*a);
  }
  report.mapMs = msSince(unmapStart);
  try {
    device_->trimScratch();  // best effort: the tags are already free
  } catch (...) {
  }
  for (const std::string& t : tags) paused_[t] = true;
  return report;
}

TransferReport MemorySaver::resume(const std::string& tag) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> tags = selectTags(tag, true);
  std::vector<Allocation*> mapped;
  TransferReport report;
  auto start = std::chrono::steady_clock::now();
  try {
    // Each chunk's copy or fill is queued as soon as it is mapped, so mapping overlaps the DMA.
    // Only copies are waited for (their host backup may be dropped next); fills stay queued
    // ahead of every later kernel on the device's stream.
    bool copied = false;
    for (auto& [id, a] : allocations_) {
      if (std::find(tags.begin(), tags.end(), a.tag) == tags.end()) continue;
      mapped.push_back(&a);
      for (size_t offset = 0; offset < a.reserved; offset += chunkBytes_) {
        size_t bytes = std::min(chunkBytes_, a.reserved - offset);
        auto mapStart = std::chrono::steady_clock::now();
        a.chunks.push_back(Chunk{offset, bytes, mapOne(a.address + offset, bytes)});
        report.mapMs += msSince(mapStart);
        if (a.backupValid && !a.deferRestore) {
          device_->copyFromHost(a.address + offset, static_cast<const char*>(a.backup) + offset, bytes);
          copied = true;
        } else if (a.zeroOnResume && !device_->mapsZeroed()) {
          device_->fill(a.address + offset, bytes, 0);
        }
      }
      if (a.backupValid && !a.deferRestore) report.copiedBytes += a.size;
    }
    if (copied) device_->synchronize();
  } catch (const std::exception& error) {
    try {
      device_->synchronize();
    } catch (...) {
    }
    for (Allocation* a : mapped) unmapChunks(*a);
    throw std::runtime_error("resume(" + tagName(tag) + ") failed, the tag stays paused with its backup: " + error.what());
  }
  report.copyMs = msSince(start);
  for (Allocation* a : mapped) {
    device_->kernels().scratchMapped(a->address, a->address + a->reserved, true);
    for (const Chunk& c : a->chunks) report.physicalBytes += c.bytes;
    a->restorePending = a->backupValid && a->deferRestore;
    a->clean = a->backupValid && !a->restorePending;
    if (!keepBackups_ && !a->restorePending) dropBackup(*a);
  }
  for (const std::string& t : tags) paused_[t] = false;
  return report;
}

void MemorySaver::copyFromHost(uint64_t id, size_t offset, const void* source, size_t bytes) {
  std::lock_guard lock(mutex_);
  Allocation& a = find(id);
  checkRange(a, offset, bytes, "copyFromHost");
  checkMapped(a, "copyFromHost");
  restoreIfPending(a);
  a.clean = false;
  device_->copyFromHost(a.address + offset, source, bytes);
  device_->synchronize();
}

void MemorySaver::copyToHost(uint64_t id, size_t offset, void* destination, size_t bytes) {
  std::lock_guard lock(mutex_);
  Allocation& a = find(id);
  checkRange(a, offset, bytes, "copyToHost");
  checkMapped(a, "copyToHost");
  restoreIfPending(a);
  device_->copyToHost(destination, a.address + offset, bytes);
  device_->synchronize();
}

void MemorySaver::fill(uint64_t id, size_t offset, size_t bytes, uint8_t value) {
  std::lock_guard lock(mutex_);
  Allocation& a = find(id);
  checkRange(a, offset, bytes, "fill");
  checkMapped(a, "fill");
  restoreIfPending(a);
  a.clean = false;
  device_->fill(a.address + offset, bytes, value);
  device_->synchronize();
}

uint64_t MemorySaver::checksum(uint64_t id, size_t offset, size_t bytes) {
  std::lock_guard lock(mutex_);
  Allocation& a = find(id);
  checkRange(a, offset, bytes, "checksum");
  checkMapped(a, "checksum");
  restoreIfPending(a);
  if (offset % 8 != 0) throw std::invalid_argument("checksum: offset must be a multiple of 8");
  return device_->checksum(a.address + offset, bytes);
}

void MemorySaver::setDeferredRestore(uint64_t id, bool deferred) {
  std::lock_guard lock(mutex_);
  Allocation& a = find(id);
  if (deferred && a.mode == BackupMode::None) {
    throw std::invalid_argument("setDeferredRestore: the allocation has no backup to restore from");
  }
  a.deferRestore = deferred;
}

void MemorySaver::setZeroOnResume(uint64_t id, bool zero) {
  std::lock_guard lock(mutex_);
  Allocation& a = find(id);
  if (zero && a.mode != BackupMode::None) {
    throw std::invalid_argument("setZeroOnResume: the allocation is restored from its backup, not zeroed");
  }
  a.zeroOnResume = zero;
}

bool MemorySaver::restorePending(uint64_t id) {
  std::lock_guard lock(mutex_);
  return find(id).restorePending;
}

bool MemorySaver::restore(uint64_t id) {
  std::lock_guard lock(mutex_);
  Allocation& a = find(id);
  return restoreIfPending(a);
}

bool MemorySaver::restoreIfPending(Allocation& a) {
  if (!a.restorePending) return false;
  uploadBackup(a);
  a.restorePending = false;
  if (!keepBackups_) dropBackup(a);
  return true;
}

void MemorySaver::uploadBackup(Allocation& a) {
  for (const Chunk& c : a.chunks) {
    device_->copyFromHost(a.address + c.offset, static_cast<const char*>(a.backup) + c.offset, c.bytes);
  }
  device_->synchronize();
  a.clean = true;
}

void MemorySaver::markDirty(uint64_t id) {
  std::lock_guard lock(mutex_);
  find(id).clean = false;
}

uint64_t MemorySaver::residentBytes(uint64_t id) {
  std::lock_guard lock(mutex_);
  Allocation& a = find(id);
  size_t mapped = 0;
  for (const Chunk& c : a.chunks) mapped += c.bytes;
  return device_->residentBytes(a.address, a.reserved, mapped);
}

HostView MemorySaver::openBackup(uint64_t id) {
  std::lock_guard lock(mutex_);
  Allocation& a = find(id);
  if (a.mode == BackupMode::None) throw std::runtime_error("openBackup: the allocation has no backup");
  if (a.backupOpen) throw std::runtime_error("openBackup: the backup is already open");
  checkMapped(a, "openBackup");
  restoreIfPending(a);
  ensureBackup(a);
  a.backupOpen = true;
  a.backupValid = false;
  a.clean = false;
  return {a.backup, a.size};
}

void MemorySaver::closeBackup(uint64_t id, bool upload) {
  std::lock_guard lock(mutex_);
  Allocation& a = find(id);
  if (!a.backupOpen) throw std::runtime_error("closeBackup: the backup is not open");
  a.backupOpen = false;
  if (!upload) return;
  uploadBackup(a);
  a.backupValid = true;
}

void MemorySaver::writeBackup(uint64_t id, const std::vector<HostPiece>& pieces) {
  std::lock_guard lock(mutex_);
  Allocation& a = find(id);
  if (a.mode == BackupMode::None) throw std::runtime_error("writeBackup: the allocation has no backup");
  if (a.backupOpen) throw std::runtime_error("writeBackup: the allocation is being written");
  // Paused (no chunks) or mapped with the restore still pending: the backup is the content.
  if (!a.backup || !a.backupValid || !(a.chunks.empty() || a.restorePending)) {
    throw std::runtime_error("writeBackup: the content of tag " + a.tag + " is on the device; write it there");
  }
  for (const HostPiece& p : pieces) checkRange(a, p.offset, p.bytes, "writeBackup");
  // backupValid, clean and restorePending stay as they are: the backup still is the content.
  for (const HostPiece& p : pieces) std::memcpy(static_cast<char*>(a.backup) + p.offset, p.data, p.bytes);
}

void MemorySaver::readIpc(const IpcRead& read) {
  std::lock_guard lock(mutex_);
  uintptr_t base = device_->openIpc(read.handle.data(), read.handle.size());
  try {
    if (!read.event.empty()) device_->waitIpcEvent(read.event.data(), read.event.size());
    for (const auto& [from, piece] : read.pieces)
      device_->copyToHost(const_cast<void*>(piece.data), base + from, piece.bytes);
    device_->synchronize();
  } catch (...) {
    device_->closeIpc(base);
    throw;
  }
  device_->closeIpc(base);
}

IpcCopyReport MemorySaver::copyIpc(uint64_t id, const IpcCopy& copy) {
  std::lock_guard lock(mutex_);
  Allocation& a = find(id);
  checkMapped(a, "copyIpc");
  for (const IpcPiece& p : copy.pieces) {
    if (p.source >= copy.sources.size()) throw std::invalid_argument("copyIpc: a piece of no source");
    checkRange(a, p.to, p.elements * dtypeSize(p.toType), "copyIpc");
  }
  std::vector<uintptr_t> bases;
  IpcCopyReport report;
  try {
    auto phase = std::chrono::steady_clock::now();
    auto lap = [&phase](double& ms) {
      ms = msSince(phase);
      phase = std::chrono::steady_clock::now();
    };
    for (const IpcSource& s : copy.sources) {
      bases.push_back(device_->openIpc(s.handle.data(), s.handle.size()));
      for (const auto& event : s.events) device_->waitIpcEvent(event.data(), event.size());
    }
    std::vector<DeviceValues> values;
    for (const IpcPiece& p : copy.pieces) values.push_back({bases[p.source] + p.from, p.elements, p.fromType});
    lap(report.openMs);
    report.counts = device_->countNonFinite(values);
    lap(report.scanMs);
    const auto& counts = report.counts;
    bool refused = copy.refuseNonFinite && std::any_of(counts.begin(), counts.end(), [](auto& c) { return c.count > 0; });
    if (!refused) {
      restoreIfPending(a);
      a.clean = false;
      for (const IpcPiece& p : copy.pieces) {
        if (p.elements == 0) continue;
        uintptr_t to = a.address + p.to, from = bases[p.source] + p.from;
        if (p.fromType == p.toType) device_->copyOnDevice(to, from, p.elements * dtypeSize(p.toType));
        else device_->kernels().convert(to, p.toType, from, p.fromType, p.elements);
      }
      device_->synchronize();
    }
    lap(report.copyMs);
    for (uintptr_t base : bases) device_->closeIpc(base);
    lap(report.closeMs);
    return report;
  } catch (...) {
    // The first error is the one to report; the handles are closed whatever else fails.
    try {
      device_->synchronize();
    } catch (...) {
    }
    for (uintptr_t base : bases) {
      try {
        device_->closeIpc(base);
      } catch (...) {
      }
    }
    throw;
  }
}

void MemorySaver::synchronize() {
  std::lock_guard lock(mutex_);
  device_->synchronize();
}

std::vector<TagStats> MemorySaver::stats() {
  std::lock_guard lock(mutex_);
  std::map<std::string, TagStats> byTag;
  for (auto& [name, isPaused] : paused_) byTag[name] = TagStats{name, isPaused, 0, 0, 0, 0};
  for (auto& [id, a] : allocations_) {
    TagStats& s = byTag.try_emplace(a.tag, TagStats{a.tag, false, 0, 0, 0, 0}).first->second;
    s.allocations += 1;
    s.reservedBytes += a.reserved;
    for (const Chunk& c : a.chunks) s.residentBytes += c.bytes;
    if (a.backup) s.backupBytes += a.reserved;
  }
  std::vector<TagStats> out;
  for (auto& [name, s] : byTag) out.push_back(s);
  return out;
}

void MemorySaver::failMapAfter(int64_t successes) {
  std::lock_guard lock(mutex_);
  mapsBeforeFailure_ = successes;
}

MemorySaver::Allocation& MemorySaver::find(uint64_t id) {
  auto it = allocations_.find(id);
  if (it == allocations_.end()) throw std::invalid_argument("no allocation with id " + std::to_string(id) + " (freed?)");
  return it->second;
}

void MemorySaver::checkRange(const Allocation& a, size_t offset, size_t bytes, const char* what) const {
  if (offset > a.size || bytes > a.size - offset) {
    throw std::out_of_range(std::string(what) + ": range [" + std::to_string(offset) + ", " +
                            std::to_string(offset + bytes) + ") is outside the allocation of " +
                            std::to_string(a.size) + " bytes");
  }
}

void MemorySaver::checkMapped(const Allocation& a, const char* what) const {
  if (a.chunks.empty()) throw std::runtime_error(std::string(what) + ": tag " + a.tag + " is paused");
}

void MemorySaver::ensureBackup(Allocation& a) {
  if (!a.backup) a.backup = device_->allocateHost(a.reserved);
}

void MemorySaver::dropBackup(Allocation& a) {
  if (!a.backup) return;
  device_->freeHost(a.backup, a.reserved);
  a.backup = nullptr;
  a.backupValid = false;
  a.clean = false;
}

void MemorySaver::mapChunks(Allocation& a, std::vector<Allocation*>& mapped) {
  mapped.push_back(&a);
  for (size_t offset = 0; offset < a.reserved; offset += chunkBytes_) {
    size_t bytes = std::min(chunkBytes_, a.reserved - offset);
    a.chunks.push_back(Chunk{offset, bytes, mapOne(a.address + offset, bytes)});
  }
}

void MemorySaver::unmapChunks(Allocation& a) {
  device_->kernels().scratchMapped(a.address, a.address + a.reserved, false);
  while (!a.chunks.empty()) {
    Chunk& c = a.chunks.back();
    device_->unmap(a.address + c.offset, c.bytes, std::move(c.physical));
    a.chunks.pop_back();
  }
}

std::unique_ptr<PhysicalChunk> MemorySaver::mapOne(uintptr_t address, size_t bytes) {
  if (mapsBeforeFailure_ == 0) {
    mapsBeforeFailure_ = -1;
    throw std::runtime_error("map failed: injected failure (test switch)");
  }
  if (mapsBeforeFailure_ > 0) mapsBeforeFailure_ -= 1;
  return device_->map(address, bytes);
}

}  // namespace ts
