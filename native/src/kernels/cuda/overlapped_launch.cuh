// Programmatic dependent launch (compute capability 9.0): a kernel started by launchOverlapped
// may be scheduled while the kernel before it in the stream still runs, once every block of that
// one has called allowNextGrid() or exited. Until it returns from waitForPriorGrid() it may read
// only what no kernel of the step writes (the weights); after it, everything earlier in the
// stream is complete and visible. TS_OVERLAPPED_LAUNCH=0 launches every kernel in plain stream order
// (the device functions then return at once), to compare the two.
#pragma once

#include <cuda_runtime.h>

#include <utility>

namespace ts::cuda {

__device__ __forceinline__ void waitForPriorGrid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void allowNextGrid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// Whether kernels on the current device start overlapped (compute capability 9.0 or later, and
// TS_OVERLAPPED_LAUNCH is not 0).
bool overlappedLaunches();

// kernel<<<grid, block, sharedBytes, stream>>>(args...), overlapping the kernel before it where the
// device allows; the kernel calls waitForPriorGrid() before it reads or writes any activation.
template <typename... Params, typename... Args>
void launchOverlapped(void (*kernel)(Params...), dim3 grid, dim3 block, size_t sharedBytes, cudaStream_t stream,
                      Args&&... args) {
  cudaLaunchAttribute overlap{};
  overlap.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  overlap.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = sharedBytes;
  config.stream = stream;
  config.attrs = &overlap;
  config.numAttrs = overlappedLaunches() ? 1 : 0;
  cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

}  // namespace ts::cuda
