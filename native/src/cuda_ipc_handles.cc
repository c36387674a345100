#include "cuda_ipc_handles.h"

#if defined(TS_WITH_CUDA)

#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "cuda_check.h"

namespace ts {
namespace {

struct Opened {
  uintptr_t base;
  int count;
};

using HandleKey = std::pair<int, std::string>;

std::mutex& ipcMutex() {
  static std::mutex mutex;
  return mutex;
}
std::map<HandleKey, Opened>& byHandle() {
  static std::map<HandleKey, Opened> opened;
  return opened;
}
std::map<std::pair<int, uintptr_t>, HandleKey>& byBase() {
  static std::map<std::pair<int, uintptr_t>, HandleKey> opened;
  return opened;
}

}  // namespace

uintptr_t openIpcHandle(int device, const cudaIpcMemHandle_t& handle) {
  std::lock_guard lock(ipcMutex());
  HandleKey key{device, std::string(reinterpret_cast<const char*>(&handle), sizeof handle)};
  auto found = byHandle().find(key);
  if (found != byHandle().end()) {
    found->second.count += 1;
    return found->second.base;
  }
  void* base = nullptr;
  checkRuntime(cudaIpcOpenMemHandle(&base, handle, cudaIpcMemLazyEnablePeerAccess), "cudaIpcOpenMemHandle");
  auto address = reinterpret_cast<uintptr_t>(base);
  byHandle().emplace(key, Opened{address, 1});
  byBase().emplace(std::pair{device, address}, key);
  return address;
}

void closeIpcHandle(int device, uintptr_t base) {
  std::lock_guard lock(ipcMutex());
  auto named = byBase().find({device, base});
  if (named == byBase().end()) throw std::runtime_error("closeIpc: no IPC handle is open at this address");
  auto opened = byHandle().find(named->second);
  if (--opened->second.count > 0) return;
  byHandle().erase(opened);
  byBase().erase(named);
  checkRuntime(cudaIpcCloseMemHandle(reinterpret_cast<void*>(base)), "cudaIpcCloseMemHandle");
}

cudaEvent_t openIpcEvent(const cudaIpcEventHandle_t& handle) {
  std::lock_guard lock(ipcMutex());
  cudaEvent_t opened;
  checkRuntime(cudaIpcOpenEventHandle(&opened, handle), "cudaIpcOpenEventHandle");
  return opened;
}

}  // namespace ts

#endif
