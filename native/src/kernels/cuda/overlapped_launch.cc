#include <cstdlib>
#include <cstring>

#include "kernels/cuda/overlapped_launch.cuh"

namespace ts::cuda {

bool overlappedLaunches() {
  static const bool allowed = [] {
    const char* value = std::getenv("TS_OVERLAPPED_LAUNCH");
    return value == nullptr || std::strcmp(value, "0") != 0;
  }();
  thread_local int device = -1;
  thread_local bool capable = false;
  int current = 0;
  if (!allowed || cudaGetDevice(&current) != cudaSuccess) return false;
  if (current != device) {
    int major = 0;
    capable = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, current) == cudaSuccess && major >= 9;
    device = current;
  }
  return capable;
}

}  // namespace ts::cuda
