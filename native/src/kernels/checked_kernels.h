// Argument checks every backend shares: a decorator that validates shapes, dtypes and
// addresses (throwing std::invalid_argument with the kernel and argument named) and forwards.
// Checks that need the content of device arrays stay in the backends that can read them.
#pragma once

#include <memory>

#include "kernels/kernels.h"

namespace ts {

std::unique_ptr<Kernels> withArgumentChecks(std::unique_ptr<Kernels> inner);

}  // namespace ts
