#include "kernels/cpu/cpu_kernels.h"

#include <cstring>

#include "kernels/checked_kernels.h"
#include "kernels/cpu/recording_kernels.h"

namespace ts::cpu {

void CpuKernels::upload(uintptr_t device, const void* host, size_t bytes) {
  std::memcpy(reinterpret_cast<void*>(device), host, bytes);
}

void CpuKernels::download(void* host, uintptr_t device, size_t bytes) {
  std::memcpy(host, reinterpret_cast<const void*>(device), bytes);
}

// The CPU kernels have run by the time they return: the copy is made now.
int CpuKernels::queueDownload(uintptr_t device, size_t bytes) {
  int ticket = 0;
  std::vector<char>& into = downloads_[queued_.queue(bytes, ticket)];
  into.resize(bytes);
  std::memcpy(into.data(), reinterpret_cast<const void*>(device), bytes);
  return ticket;
}

void CpuKernels::takeDownload(int ticket, void* host, size_t bytes) {
  std::memcpy(host, downloads_[queued_.take(ticket, bytes)].data(), bytes);
}

std::unique_ptr<Kernels> createCpuKernels() {
  return withArgumentChecks(withRecording(std::make_unique<CpuKernels>()));
}

}  // namespace ts::cpu
