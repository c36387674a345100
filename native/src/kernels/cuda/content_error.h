// Errors in the content of device arrays (ids, attention metadata), which only the kernels can
// see. A kernel records the first one in a device-side ContentError and skips the bad work; the
// next call that waits for the stream (upload, download, synchronize) throws it.
#pragma once

#include <cstdint>
#include <string>

namespace ts::cuda {

enum ContentErrorCode : int {
  kNoError = 0,
  kNegativeId,           // embedding; the token and id are in firstBadId
  kQueryStartFirst,      // a = queryStart[0]
  kQueryStartLast,       // a = tokens, b = queryStart[numSeqs]
  kQueryStartDecreases,  // a = sequence
  kQueryLongerThanSeq,   // a = sequence, b = qLen
  kTooManyPages,         // a = sequence
  kNegativePage,         // a = sequence, b = page-table column
  kLogprobIdOutOfRange,  // tokenLogprobs: a = row, b = id, c = vocab (the lowest bad row of the launch)
  kLogitBiasOutOfRange,  // addLogitBias: a = pair, b = row, c = id, d = numRows, e = vocab (the lowest bad pair)
};

// All zero when clean. firstBadId holds ~((token << 32) | uint32(id)) of the lowest bad token, so
// an atomicMax on it keeps the first one.
struct ContentError {
  int code;
  int a, b, c, d, e;
  unsigned long long firstBadId;
};

inline std::string describe(const ContentError& e) {
  auto n = [](long long v) { return std::to_string(v); };
  std::string seq = "sequence " + n(e.a);
  switch (e.code) {
    case kNegativeId: {
      unsigned long long packed = ~e.firstBadId;
      return "embedding: ids[" + n(static_cast<long long>(packed >> 32)) + "] is negative (" +
             n(static_cast<int32_t>(packed & 0xffffffffu)) + ")";
    }
    case kQueryStartFirst:
      return "attention: queryStart[0] must be 0, got " + n(e.a);
    case kQueryStartLast:
      return "attention: queryStart[numSeqs] must equal tokens (" + n(e.a) + "), got " + n(e.b);
    case kQueryStartDecreases:
      return "attention: queryStart must not decrease (" + seq + ")";
    case kQueryLongerThanSeq:
      return "attention: " + seq + " has more query tokens (" + n(e.b) + ") than seqLen";
    case kTooManyPages:
      return "attention: " + seq + " needs more pages than pageTableStride";
    case kNegativePage:
      return "attention: " + seq + " has a negative page index at " + n(e.b);
    case kLogprobIdOutOfRange:
      return "tokenLogprobs: id " + n(e.b) + " of row " + n(e.a) + " is outside the vocabulary of " + n(e.c);
    case kLogitBiasOutOfRange:
      return "addLogitBias: pair " + n(e.a) + " (row " + n(e.b) + ", id " + n(e.c) + ") is outside the logits of " +
             n(e.d) + " rows x " + n(e.e) + " ids";
    default:
      return "a kernel reported content error " + n(e.code);
  }
}

#if defined(__CUDACC__)
__device__ inline void reportContentError(ContentError* error, int code, int a, int b, int c = 0, int d = 0,
                                         int e = 0) {
  if (atomicCAS(&error->code, 0, code) == 0) {
    error->a = a;
    error->b = b;
    error->c = c;
    error->d = d;
    error->e = e;
  }
}
#endif

}  // namespace ts::cuda
