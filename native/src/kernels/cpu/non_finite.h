// Counts the NaN and ±Inf values in host memory, for a loader's check of weights before they
// are committed. A float32, bfloat16 or float16 value is non-finite iff its exponent bits are
// all ones, so the scan is a masked compare per lane: vectorised clones on the shared thread
// pool, at memory bandwidth.
#pragma once

#include <cstddef>

#include "device.h"

namespace ts::cpu {

// `elements` values of `dtype` at `data`, which needs no alignment. Reads only.
NonFiniteCount countNonFinite(const void* data, size_t elements, DType dtype);

}  // namespace ts::cpu
