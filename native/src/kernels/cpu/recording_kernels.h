// Graphs on the CPU backend: between beginCapture and endCapture each kernel call is recorded
// (its arguments bound), not run; replay runs the recorded calls again in order, reading
// memory as it is then. The same contract as CUDA graphs (kernels.h), so the engine's graph
// path runs, and is tested, on every machine.
#pragma once

#include <memory>

#include "kernels/kernels.h"

namespace ts::cpu {

std::unique_ptr<Kernels> withRecording(std::unique_ptr<Kernels> inner);

}  // namespace ts::cpu
