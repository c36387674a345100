// The content checksum both backends compute: a sum (mod 2^64) over the 8-byte words of a
// range, each mixed with its index, so it is order-free (parallel) and position-sensitive.
#pragma once

#include <cstdint>

#include "host_device.h"

namespace ts {

TS_HOST_DEVICE inline uint64_t mixWord(uint64_t word, uint64_t index) {
  uint64_t z = word ^ (index * 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace ts
