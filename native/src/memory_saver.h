// Tagged device memory that can be released and taken back at the same addresses: one
// allocation table, one state per tag (active | paused), host backups kept across cycles.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "device.h"
#include "kernels/kernels.h"

namespace ts {

// none: content discarded on pause. always: copied to the host backup on every pause.
// tracked: copied only when the saver cannot prove the device still equals the backup.
enum class BackupMode { None, Always, Tracked };

struct TagStats {
  std::string tag;
  bool paused;
  size_t allocations;
  uint64_t reservedBytes;
  uint64_t residentBytes;
  uint64_t backupBytes;
};

struct TransferReport {
  uint64_t physicalBytes = 0;  // bytes unmapped (pause) or mapped (resume)
  uint64_t copiedBytes = 0;    // bytes copied to (pause) or from (resume) host backups
  double copyMs = 0;           // pause: the copies to host; resume: maps and copies, overlapped
  double mapMs = 0;            // pause: unmapping; resume: time spent in map calls
};

struct HostView {
  void* data;
  size_t bytes;
};

// Host bytes for [offset, offset + bytes) of an allocation.
struct HostPiece {
  size_t offset;
  const void* data;
  size_t bytes;
};

// Bytes another process shares by CUDA IPC, to copy to the host: `pieces` are (offset from
// the shared allocation's start, host bytes) pairs.
struct IpcRead {
  std::vector<uint8_t> handle;
  std::vector<uint8_t> event;  // empty: none to wait for
  std::vector<std::pair<size_t, HostPiece>> pieces;
};

// Tensors another process shares by CUDA IPC, copied into an allocation on the device:
// `sources` are the shared allocations (handle, and the events to wait for), `pieces` what
// goes where, converted where the dtypes differ.
struct IpcSource {
  std::vector<uint8_t> handle;
  std::vector<std::vector<uint8_t>> events;
};
struct IpcPiece {
  size_t source;  // index into sources
  size_t from;    // byte offset in the shared allocation
  size_t to;      // byte offset in the destination allocation
  size_t elements;
  DType fromType;
  DType toType;
};
// What copyIpc found and where its time went (each phase waited for before the next).
struct IpcCopyReport {
  std::vector<NonFiniteCount> counts;  // one per piece
  double openMs = 0;                   // opening the handles and queueing the event waits
  double scanMs = 0;                   // the non-finite scan, after the events
  double copyMs = 0;                   // the copies and conversions
  double closeMs = 0;
};
struct IpcCopy {
  std::vector<IpcSource> sources;
  std::vector<IpcPiece> pieces;
  // Copy nothing when a piece holds NaN or ±Inf.
  bool refuseNonFinite;
};

class MemorySaver {
 public:
  MemorySaver(std::unique_ptr<Device> device, size_t chunkBytes, bool keepBackups);
  ~MemorySaver();

  std::string deviceName() const { return device_->name(); }
  bool mapsZeroed() const { return device_->mapsZeroed(); }
  MemoryInfo memoryInfo() const { return device_->memoryInfo(); }
  // The device's model kernels; they work on raw addresses, outside the allocation table.
  Kernels& kernels() { return device_->kernels(); }

  // An empty tag means untagged: never paused.
  uint64_t allocate(size_t bytes, const std::string& tag, BackupMode mode, uintptr_t* address);
  void free(uint64_t id);

  // An empty tag means every tag that is known. Throws, changing nothing, on a wrong state.
  TransferReport pause(const std::string& tag);
  TransferReport resume(const std::string& tag);

  void copyFromHost(uint64_t id, size_t offset, const void* source, size_t bytes);
  void copyToHost(uint64_t id, size_t offset, void* destination, size_t bytes);
  void fill(uint64_t id, size_t offset, size_t bytes, uint8_t value);
  uint64_t checksum(uint64_t id, size_t offset, size_t bytes);
  void markDirty(uint64_t id);

  // Deferred restore (backed-up allocations): a resume maps the memory but leaves the copy from
  // the backup pending until something needs the content: restore(), any read or partial write
  // through the saver, or a pause (which then needs no copy: the backup is the content).
  void setDeferredRestore(uint64_t id, bool deferred);
  bool restorePending(uint64_t id);
  bool restore(uint64_t id);  // true when it copied
  // Discarded memory (no backup) that a resume zeroes chunk by chunk as it maps them, so the
  // fill overlaps the mapping instead of following it (the KV pools' repair, spec rule 10).
  void setZeroOnResume(uint64_t id, bool zero);
  // Bytes of the allocation's range physically resident now (the OS's count on the CPU).
  uint64_t residentBytes(uint64_t id);

  // The backup of a backed-up allocation, opened for writing; `closeBackup(upload=true)`
  // copies it to the device, after which device and backup are known equal.
  HostView openBackup(uint64_t id);
  void closeBackup(uint64_t id, bool upload);
  // Writes pieces into the backup of an allocation whose content lives only there (its tag is
  // paused, or a deferred restore is pending); the next resume or restore brings them to the
  // device, and no device memory is mapped or touched. Every range is checked before the first
  // byte is copied, and the copy runs under the lock: all pieces land, or none.
  void writeBackup(uint64_t id, const std::vector<HostPiece>& pieces);

  // Opens the handle, waits for its event, copies every piece to the host and closes the
  // handle, also when a step fails; returns when the bytes are there.
  void readIpc(const IpcRead& read);
  // Every source opened and its event waited for, every piece scanned for NaN/±Inf, then (unless
  // refused) every piece copied; the handles are closed before it returns. The counts, one per
  // piece: with refuseNonFinite and any count above 0, nothing was written.
  IpcCopyReport copyIpc(uint64_t id, const IpcCopy& copy);

  void synchronize();
  std::vector<TagStats> stats();
  // Test switch: the map call after `successes` more successful ones throws.
  void failMapAfter(int64_t successes);

 private:
  struct Chunk {
    size_t offset;
    size_t bytes;
    std::unique_ptr<PhysicalChunk> physical;
  };
  struct Allocation {
    std::string tag;
    uintptr_t address = 0;
    size_t size = 0;
    size_t reserved = 0;
    BackupMode mode = BackupMode::None;
    std::vector<Chunk> chunks;
    void* backup = nullptr;
    bool backupValid = false;  // the backup holds the content as of the last pause or upload
    bool clean = false;        // the device content equals the backup
    bool backupOpen = false;
    bool deferRestore = false;
    bool zeroOnResume = false;
    bool restorePending = false;  // mapped, but the content is still only in the backup
  };

  Allocation& find(uint64_t id);
  void checkRange(const Allocation& a, size_t offset, size_t bytes, const char* what) const;
  void checkMapped(const Allocation& a, const char* what) const;
  std::vector<std::string> selectTags(const std::string& tag, bool paused);
  void ensureBackup(Allocation& a);
  bool restoreIfPending(Allocation& a);
  // Copies the whole backup to the device and waits; the device then equals the backup.
  void uploadBackup(Allocation& a);
  void dropBackup(Allocation& a);
  void mapChunks(Allocation& a, std::vector<Allocation*>& mapped);
  void unmapChunks(Allocation& a);
  std::unique_ptr<PhysicalChunk> mapOne(uintptr_t address, size_t bytes);

  std::unique_ptr<Device> device_;
  size_t chunkBytes_;
  bool keepBackups_;
  std::mutex mutex_;
  uint64_t nextId_ = 1;
  std::map<uint64_t, Allocation> allocations_;
  std::map<std::string, bool> paused_;  // every tag ever used; true while paused
  int64_t mapsBeforeFailure_ = -1;
};

}  // namespace ts
