// Captured graphs of kernel calls: a decode step recorded once and replayed as one launch, so
// the host's per-kernel cost (the call from JavaScript, the launch) is paid once per step.
#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_kernels.h"

namespace ts::cuda {

void CudaKernels::beginCapture() {
  planValid_ = false;
  if (capturing_) throw std::logic_error("beginCapture: a capture is already open");
  cudaError_t status = cudaStreamBeginCapture(enter(), cudaStreamCaptureModeThreadLocal);
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("beginCapture: cudaStreamBeginCapture failed: ") + cudaGetErrorName(status));
  }
  capturing_ = true;
}

int CudaKernels::endCapture() {
  planValid_ = false;
  if (!capturing_) throw std::logic_error("endCapture: no capture is open");
  capturing_ = false;
  cudaGraph_t graph = nullptr;
  cudaError_t status = cudaStreamEndCapture(enter(), &graph);
  cudaGetLastError();  // a failed capture leaves its error behind; the stream is usable again
  if (status != cudaSuccess || graph == nullptr) return -1;
  cudaGraphExec_t exec = nullptr;
  status = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (status != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  int id = nextGraph_++;
  graphs_.emplace(id, exec);
  return id;
}

bool CudaKernels::replay(int graph) {
  planValid_ = false;
  auto found = graphs_.find(graph);
  if (found == graphs_.end()) return false;
  needGivenScratch("replay");
  cudaError_t status = cudaGraphLaunch(found->second, enter());
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("replay: cudaGraphLaunch failed: ") + cudaGetErrorName(status));
  }
  return true;
}

void CudaKernels::dropGraphs() {
  planValid_ = false;
  for (auto& [id, exec] : graphs_) cudaGraphExecDestroy(exec);
  graphs_.clear();
}

}  // namespace ts::cuda
