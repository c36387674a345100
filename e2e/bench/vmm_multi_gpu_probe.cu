// Do VMM calls on two GPUs run side by side from one process's threads, or only from two processes?
//   nvcc -O2 -o /tmp/vmm_multi_gpu_probe e2e/bench/vmm_multi_gpu_probe.cu -lcuda && /tmp/vmm_multi_gpu_probe 42
// Maps GIB 1-GiB chunks (create + map + setAccess), then unmaps and releases them: on GPU 0 alone,
// on GPUs 0 and 1 from two threads of one process, and on GPUs 0 and 1 from two processes.
#include "vmm_probe_common.h"

#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

static const size_t kChunk = size_t(1) << 30;

/** One GPU's reserved range and the chunks mapped into it. */
struct Region {
  CUcontext context;
  CUdeviceptr base;
  int chunks;
  CUmemAllocationProp prop{};
  CUmemAccessDesc access{};
  std::vector<CUmemGenericAllocationHandle> handles;

  Region(int ordinal, int chunkCount) : chunks(chunkCount), handles(chunkCount) {
    CUdevice device;
    CHECK(cuDeviceGet(&device, ordinal));
    CHECK(cuDevicePrimaryCtxRetain(&context, device));
    CHECK(cuCtxSetCurrent(context));
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = ordinal;
    access.location = prop.location;
    access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    CHECK(cuMemAddressReserve(&base, kChunk * chunks, kChunk, 0, 0));
  }
  double map() {
    CHECK(cuCtxSetCurrent(context));
    auto start = Clock::now();
    for (int i = 0; i < chunks; ++i) {
      CHECK(cuMemCreate(&handles[i], kChunk, &prop, 0));
      CHECK(cuMemMap(base + i * kChunk, kChunk, 0, handles[i], 0));
      CHECK(cuMemSetAccess(base + i * kChunk, kChunk, &access, 1));
    }
    return msSince(start);
  }
  double unmap() {
    CHECK(cuCtxSetCurrent(context));
    auto start = Clock::now();
    for (int i = 0; i < chunks; ++i) {
      CHECK(cuMemUnmap(base + i * kChunk, kChunk));
      CHECK(cuMemRelease(handles[i]));
    }
    return msSince(start);
  }
};

static void report(const char* how, double map, double unmap) {
  std::printf("| %s | %.1f | %.1f |\n", how, map, unmap);
  std::fflush(stdout);
}

/** Maps then unmaps on each GPU of `ordinals` from its own thread; wall times of both phases. */
static void threads(const char* how, std::vector<Region*> regions) {
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread> pool;
    auto start = Clock::now();
    for (auto* r : regions) pool.emplace_back([r] { r->map(); });
    for (auto& t : pool) t.join();
    double map = msSince(start);
    pool.clear();
    start = Clock::now();
    for (auto* r : regions) pool.emplace_back([r] { r->unmap(); });
    for (auto& t : pool) t.join();
    report(how, map, msSince(start));
  }
}

/** Two processes, one GPU each, starting each phase together (a pipe per phase as the barrier). */
static void processes(int chunks) {
  int go[2][2];
  int done[2][2];
  for (int phase = 0; phase < 2; ++phase) {
    if (pipe(go[phase]) || pipe(done[phase])) std::exit(1);
  }
  std::vector<pid_t> children;
  for (int ordinal = 0; ordinal < 2; ++ordinal) {
    pid_t pid = fork();
    if (pid == 0) {
      CHECK(cuInit(0));
      Region region(ordinal, chunks);
      char byte = 0;
      for (int round = 0; round < 3; ++round) {
        for (int phase = 0; phase < 2; ++phase) {
          if (write(done[phase][1], &byte, 1) != 1 || read(go[phase][0], &byte, 1) != 1) std::_Exit(1);
          phase == 0 ? region.map() : region.unmap();
          if (write(done[phase][1], &byte, 1) != 1) std::_Exit(1);
        }
      }
      std::_Exit(0);
    }
    children.push_back(pid);
  }
  char bytes[2];
  for (int round = 0; round < 3; ++round) {
    double ms[2];
    for (int phase = 0; phase < 2; ++phase) {
      if (read(done[phase][0], bytes, 1) != 1 || read(done[phase][0], bytes + 1, 1) != 1) std::exit(1);
      auto start = Clock::now();
      if (write(go[phase][1], bytes, 2) != 2) std::exit(1);
      if (read(done[phase][0], bytes, 1) != 1 || read(done[phase][0], bytes + 1, 1) != 1) std::exit(1);
      ms[phase] = msSince(start);
    }
    report("GPUs 0 and 1, two processes", ms[0], ms[1]);
  }
  for (pid_t pid : children) waitpid(pid, nullptr, 0);
}

int main(int argc, char** argv) {
  int chunks = argc > 1 ? std::atoi(argv[1]) : 42;
  std::printf("%d GiB per GPU, 1-GiB chunks; ms, wall time of the phase\n\n", chunks);
  std::printf("| how | map (create + map + setAccess) | unmap + release |\n| --- | --- | --- |\n");
  // The processes go first: a child forked after this process has initialised CUDA cannot use it.
  processes(chunks);
  CHECK(cuInit(0));
  Region gpu0(0, chunks);
  Region gpu1(1, chunks);
  threads("GPU 0 alone, one thread", {&gpu0});
  threads("GPUs 0 and 1, two threads of one process", {&gpu0, &gpu1});
  threads("GPU 0 alone again", {&gpu0});
  return 0;
}
