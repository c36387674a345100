// Where a KV cache keeps a slot's head: pages of pageSize slots laid out [kv head][slot][headDim],
// so one head's keys of a page are one run of pageSize * headDim values (decode attention reads a
// head's keys; on the H200 it streamed them 4-7% faster than with a slot's heads side by side).
#pragma once

#include <cstddef>

#include "host_device.h"

namespace ts {

struct KvLayout {
  int kvHeads, headDim, pageSize;

  // The element offset of head `head` of the key at `inPage` in page `page`.
  TS_HOST_DEVICE size_t offset(long long page, int inPage, int head) const {
    return static_cast<size_t>((page * kvHeads + head) * pageSize + inPage) * static_cast<size_t>(headDim);
  }
  // The same by slot: slot = page * pageSize + its place in the page.
  TS_HOST_DEVICE size_t offset(long long slot, int head) const {
    long long page = slot / pageSize;
    return offset(page, static_cast<int>(slot - page * pageSize), head);
  }
};

}  // namespace ts
