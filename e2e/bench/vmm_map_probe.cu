// Where the time of mapping discarded memory back goes, and what makes it faster:
//   nvcc -O2 -o /tmp/vmm_map_probe e2e/bench/vmm_map_probe.cu -lcuda && /tmp/vmm_map_probe 42 300
// Maps GIB 1-GiB chunks after an idle gap of IDLE_MS, timing cuMemCreate, cuMemMap and
// cuMemSetAccess apart; then one cuMemSetAccess for the whole range; then T threads mapping.
#include "vmm_probe_common.h"

#include <cuda_runtime.h>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  int chunks = argc > 1 ? std::atoi(argv[1]) : 42;
  int idleMs = argc > 2 ? std::atoi(argv[2]) : 300;
  const size_t chunk = size_t(1) << 30;
  cudaFree(nullptr);
  CUdevice device;
  CHECK(cuCtxGetDevice(&device));
  CUmemAllocationProp prop = {};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = device;
  CUmemAccessDesc access = {};
  access.location = prop.location;
  access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  CUdeviceptr base;
  CHECK(cuMemAddressReserve(&base, chunk * chunks, chunk, 0, 0));
  std::vector<CUmemGenericAllocationHandle> handles(chunks);
  auto unmapAll = [&] {
    CHECK(cuMemUnmap(base, chunk * chunks));
    for (auto h : handles) CHECK(cuMemRelease(h));
  };
  auto idle = [&] { std::this_thread::sleep_for(std::chrono::milliseconds(idleMs)); };

  for (int round = 0; round < 2; ++round) {
    // 1. per chunk, each call timed
    idle();
    double create = 0, map = 0, set = 0;
    auto start = Clock::now();
    for (int i = 0; i < chunks; ++i) {
      auto t = Clock::now();
      CHECK(cuMemCreate(&handles[i], chunk, &prop, 0));
      create += msSince(t);
      t = Clock::now();
      CHECK(cuMemMap(base + i * chunk, chunk, 0, handles[i], 0));
      map += msSince(t);
      t = Clock::now();
      CHECK(cuMemSetAccess(base + i * chunk, chunk, &access, 1));
      set += msSince(t);
    }
    std::printf("idle %d ms, per chunk: total %.2f ms = create %.2f + map %.2f + setAccess %.2f\n", idleMs,
                msSince(start), create, map, set);
    unmapAll();

    // 2. one setAccess for the whole range
    idle();
    start = Clock::now();
    for (int i = 0; i < chunks; ++i) {
      CHECK(cuMemCreate(&handles[i], chunk, &prop, 0));
      CHECK(cuMemMap(base + i * chunk, chunk, 0, handles[i], 0));
    }
    auto t = Clock::now();
    CHECK(cuMemSetAccess(base, chunk * chunks, &access, 1));
    std::printf("idle %d ms, one setAccess: total %.2f ms (setAccess %.2f)\n", idleMs, msSince(start), msSince(t));
    unmapAll();

    // 3. threads, each mapping every T-th chunk with its own setAccess
    for (int threads : {2, 4, 8}) {
      idle();
      start = Clock::now();
      std::vector<std::thread> pool;
      CUcontext context;
      CHECK(cuCtxGetCurrent(&context));
      for (int w = 0; w < threads; ++w) {
        pool.emplace_back([&, w] {
          CHECK(cuCtxSetCurrent(context));
          for (int i = w; i < chunks; i += threads) {
            CHECK(cuMemCreate(&handles[i], chunk, &prop, 0));
            CHECK(cuMemMap(base + i * chunk, chunk, 0, handles[i], 0));
            CHECK(cuMemSetAccess(base + i * chunk, chunk, &access, 1));
          }
        });
      }
      for (auto& th : pool) th.join();
      std::printf("idle %d ms, %d threads: total %.2f ms\n", idleMs, threads, msSince(start));
      unmapAll();
    }

    // 4. a busy GPU in the gap (a trainer's), then per chunk
    idle();
    void* busy;
    cudaMalloc(&busy, size_t(4) << 30);
    for (int i = 0; i < 40; ++i) cudaMemsetAsync(busy, i, size_t(4) << 30);
    cudaDeviceSynchronize();
    cudaFree(busy);
    start = Clock::now();
    for (int i = 0; i < chunks; ++i) {
      CHECK(cuMemCreate(&handles[i], chunk, &prop, 0));
      CHECK(cuMemMap(base + i * chunk, chunk, 0, handles[i], 0));
      CHECK(cuMemSetAccess(base + i * chunk, chunk, &access, 1));
    }
    std::printf("after ~40 ms of GPU work: total %.2f ms\n", msSince(start));
    unmapAll();
  }
  CHECK(cuMemAddressFree(base, chunk * chunks));
  return 0;
}
