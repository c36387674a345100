// What the VMM probes (vmm_map_probe.cu, vmm_multi_gpu_probe.cu) share: a driver-call check
// that exits with the call's text, and a millisecond clock.
#pragma once

#include <cuda.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#define CHECK(x)                                                          \
  do {                                                                    \
    CUresult r = (x);                                                     \
    if (r != CUDA_SUCCESS) {                                              \
      std::fprintf(stderr, "%s failed: %d (line %d)\n", #x, r, __LINE__); \
      std::exit(1);                                                       \
    }                                                                     \
  } while (0)

using Clock = std::chrono::steady_clock;
static double msSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}
