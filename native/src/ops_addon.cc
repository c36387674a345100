#include "ops_addon.h"

#include <cmath>
#include <string>

namespace ts {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1

// Reads positional arguments, throwing JS TypeError / RangeError that name the argument.
class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* method, size_t count) : info_(info), method_(method) {
    if (info.Length() < count) {
      throw Napi::TypeError::New(info.Env(), std::string(method) + " expects " + std::to_string(count) +
                                                 " arguments, got " + std::to_string(info.Length()));
    }
  }

  double number(size_t i, const char* name) const {
    if (!info_[i].IsNumber()) throw Napi::TypeError::New(info_.Env(), prefix(name) + "must be a number");
    return info_[i].As<Napi::Number>().DoubleValue();
  }

  uintptr_t address(size_t i, const char* name) const {
    double value = number(i, name);
    if (!(value >= 0 && value <= kMaxSafeInteger) || value != std::floor(value)) {
      throw Napi::RangeError::New(info_.Env(), prefix(name) + "must be an address: an integer in [0, 2^53), got " +
                                                   Napi::Number::New(info_.Env(), value).ToString().Utf8Value());
    }
    return static_cast<uintptr_t>(value);
  }

  // Any int32; the kernels decide which values they accept.
  int integer(size_t i, const char* name) const {
    double value = number(i, name);
    if (!(value >= -2147483648.0 && value <= 2147483647.0) || value != std::floor(value)) {
      throw Napi::RangeError::New(info_.Env(), prefix(name) + "must be a 32-bit integer, got " +
                                                   Napi::Number::New(info_.Env(), value).ToString().Utf8Value());
    }
    return static_cast<int>(value);
  }

  size_t count(size_t i, const char* name) const { return address(i, name); }
  bool flag(size_t i, const char* name) const {
    if (!info_[i].IsBoolean()) throw Napi::TypeError::New(info_.Env(), prefix(name) + "must be a boolean");
    return info_[i].As<Napi::Boolean>().Value();
  }
  float real(size_t i, const char* name) const { return static_cast<float>(number(i, name)); }
  DType dtype(size_t i, const char* name = "dtype") const { return static_cast<DType>(integer(i, name)); }

  Napi::Uint8Array bytes(size_t i, const char* name) const {
    if (!info_[i].IsTypedArray() || info_[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(info_.Env(), prefix(name) + "must be a Uint8Array");
    }
    return info_[i].As<Napi::Uint8Array>();
  }

 private:
  std::string prefix(const char* name) const { return std::string(method_) + ": " + name + " "; }
  const Napi::CallbackInfo& info_;
  const char* method_;
};

class NativeOps : public Napi::ObjectWrap<NativeOps> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeOps",
                       {InstanceMethod<&NativeOps::embedding>("embedding"),
                        InstanceMethod<&NativeOps::rmsNorm>("rmsNorm"),
                        InstanceMethod<&NativeOps::addRmsNorm>("addRmsNorm"),
                        InstanceMethod<&NativeOps::add>("add"),
                        InstanceMethod<&NativeOps::rotary>("rotary"),
                        InstanceMethod<&NativeOps::storeKv>("storeKv"),
                        InstanceMethod<&NativeOps::attention>("attention"),
                        InstanceMethod<&NativeOps::siluAndMul>("siluAndMul"),
                        InstanceMethod<&NativeOps::gemm>("gemm"),
                        InstanceMethod<&NativeOps::convert>("convert"),
                        InstanceMethod<&NativeOps::sample>("sample"),
                        InstanceMethod<&NativeOps::tokenLogprobs>("tokenLogprobs"),
                        InstanceMethod<&NativeOps::addLogitBias>("addLogitBias"),
                        InstanceMethod<&NativeOps::topLogprobs>("topLogprobs"),
                        InstanceMethod<&NativeOps::upload>("upload"),
                        InstanceMethod<&NativeOps::download>("download"),
                        InstanceMethod<&NativeOps::synchronize>("synchronize"),
                        InstanceMethod<&NativeOps::canCapture>("canCapture"),
                        InstanceMethod<&NativeOps::beginCapture>("beginCapture"),
                        InstanceMethod<&NativeOps::endCapture>("endCapture"),
                        InstanceMethod<&NativeOps::replay>("replay"),
                        InstanceMethod<&NativeOps::dropGraphs>("dropGraphs"),
                        InstanceMethod<&NativeOps::scratchBytes>("scratchBytes"),
                        InstanceMethod<&NativeOps::useScratch>("useScratch")});
  }

  // new NativeOps(saver: NativeMemorySaver)
  explicit NativeOps(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeOps>(info) {
    saver_ = memorySaverOf(info[0]);
    run(info, [&] { kernels_ = &saver_->kernels(); });
  }

 private:
  // Runs a kernel call, turning C++ exceptions into JS Errors.
  template <typename F>
  Napi::Value run(const Napi::CallbackInfo& info, F call) {
    try {
      call();
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& error) {
      throw Napi::Error::New(info.Env(), error.what());
    }
    return info.Env().Undefined();
  }

  // (out, table, ids, tokens, dim, dtype)
  Napi::Value embedding(const Napi::CallbackInfo& info) {
    Args a(info, "embedding", 6);
    return run(info, [&] {
      kernels_->embedding(a.address(0, "out"), a.address(1, "table"), a.address(2, "ids"), a.integer(3, "tokens"),
                          a.integer(4, "dim"), a.dtype(5));
    });
  }

  // (out, x, weight, rows, dim, rowsPerGroup, groupStride, eps, dtype)
  Napi::Value rmsNorm(const Napi::CallbackInfo& info) {
    Args a(info, "rmsNorm", 9);
    // Read in order, so the first bad argument is the one named.
    uintptr_t out = a.address(0, "out"), x = a.address(1, "x"), weight = a.address(2, "weight");
    int rows = a.integer(3, "rows"), dim = a.integer(4, "dim"), rowsPerGroup = a.integer(5, "rowsPerGroup");
    size_t groupStride = a.count(6, "groupStride");
    float eps = a.real(7, "eps");
    DType dtype = a.dtype(8);
    return run(info, [&] { kernels_->rmsNorm(out, x, weight, rows, dim, rowsPerGroup, groupStride, eps, dtype); });
  }

  // (out, residual, delta, weight, rows, dim, eps, dtype)
  Napi::Value addRmsNorm(const Napi::CallbackInfo& info) {
    Args a(info, "addRmsNorm", 8);
    uintptr_t out = a.address(0, "out"), residual = a.address(1, "residual"), delta = a.address(2, "delta");
    uintptr_t weight = a.address(3, "weight");
    int rows = a.integer(4, "rows"), dim = a.integer(5, "dim");
    float eps = a.real(6, "eps");
    DType dtype = a.dtype(7);
    return run(info, [&] { kernels_->addRmsNorm(out, residual, delta, weight, rows, dim, eps, dtype); });
  }

  // (out, a, b, n, dtype)
  Napi::Value add(const Napi::CallbackInfo& info) {
    Args a(info, "add", 5);
    return run(info, [&] {
      kernels_->add(a.address(0, "out"), a.address(1, "a"), a.address(2, "b"), a.count(3, "n"), a.dtype(4));
    });
  }

  // (q, k, positions, tokens, qHeads, kvHeads, headDim, rotaryDim, qStride, kStride, invFreq, layout, dtype)
  Napi::Value rotary(const Napi::CallbackInfo& info) {
    Args a(info, "rotary", 13);
    return run(info, [&] {
      kernels_->rotary(a.address(0, "q"), a.address(1, "k"), a.address(2, "positions"), a.integer(3, "tokens"),
                       a.integer(4, "qHeads"), a.integer(5, "kvHeads"), a.integer(6, "headDim"),
                       a.integer(7, "rotaryDim"), a.integer(8, "qStride"), a.integer(9, "kStride"),
                       a.address(10, "invFreq"), static_cast<RotaryLayout>(a.integer(11, "layout")), a.dtype(12));
    });
  }

  // (kCache, vCache, k, v, slots, tokens, kvHeads, headDim, kStride, vStride, dtype)
  Napi::Value storeKv(const Napi::CallbackInfo& info) {
    Args a(info, "storeKv", 11);
    return run(info, [&] {
      kernels_->storeKv(a.address(0, "kCache"), a.address(1, "vCache"), a.address(2, "k"), a.address(3, "v"),
                        a.address(4, "slots"), a.integer(5, "tokens"), a.integer(6, "kvHeads"),
                        a.integer(7, "headDim"), a.integer(8, "kStride"), a.integer(9, "vStride"), a.dtype(10));
    });
  }

  // (out, q, kCache, vCache, queryStart, seqLens, pageTable, numSeqs, pageTableStride, pageSize,
  //  tokens, qHeads, kvHeads, headDim, qStride, scale, dtype, reusePlan)
  Napi::Value attention(const Napi::CallbackInfo& info) {
    Args a(info, "attention", 18);
    return run(info, [&] {
      AttentionBatch batch{a.integer(7, "numSeqs"),
                           reinterpret_cast<const int32_t*>(a.address(4, "queryStart")),
                           reinterpret_cast<const int32_t*>(a.address(5, "seqLens")),
                           reinterpret_cast<const int32_t*>(a.address(6, "pageTable")),
                           a.integer(8, "pageTableStride"),
                           a.integer(9, "pageSize"),
                           a.flag(17, "reusePlan")};
      kernels_->attention(a.address(0, "out"), a.address(1, "q"), a.address(2, "kCache"), a.address(3, "vCache"),
                          batch, a.integer(10, "tokens"), a.integer(11, "qHeads"), a.integer(12, "kvHeads"),
                          a.integer(13, "headDim"), a.integer(14, "qStride"), a.real(15, "scale"), a.dtype(16));
    });
  }

  // (out, gateUp, rows, inter, dtype)
  Napi::Value siluAndMul(const Napi::CallbackInfo& info) {
    Args a(info, "siluAndMul", 5);
    return run(info, [&] {
      kernels_->siluAndMul(a.address(0, "out"), a.address(1, "gateUp"), a.integer(2, "rows"), a.integer(3, "inter"),
                           a.dtype(4));
    });
  }

  // (out, a, w, bias (0 = none), m, n, k, dtype)
  Napi::Value gemm(const Napi::CallbackInfo& info) {
    Args a(info, "gemm", 8);
    return run(info, [&] {
      kernels_->gemm(a.address(0, "out"), a.address(1, "a"), a.address(2, "w"), a.address(3, "bias"),
                     a.integer(4, "m"), a.integer(5, "n"), a.integer(6, "k"), a.dtype(7));
    });
  }

  // (out, outType, in, inType, n)
  Napi::Value convert(const Napi::CallbackInfo& info) {
    Args a(info, "convert", 5);
    return run(info, [&] {
      kernels_->convert(a.address(0, "out"), a.dtype(1, "outType"), a.address(2, "in"), a.dtype(3, "inType"),
                        a.count(4, "n"));
    });
  }

  // (out, logits, rows, vocab, temperature, topK, topP, randomKeys, dtype)
  Napi::Value sample(const Napi::CallbackInfo& info) {
    Args a(info, "sample", 9);
    return run(info, [&] {
      kernels_->sample(a.address(0, "out"), a.address(1, "logits"), a.integer(2, "rows"), a.integer(3, "vocab"),
                       a.address(4, "temperature"), a.address(5, "topK"), a.address(6, "topP"),
                       a.address(7, "randomKeys"), a.dtype(8));
    });
  }

  // (out, logits, ids, temperature, rows, vocab, dtype)
  Napi::Value tokenLogprobs(const Napi::CallbackInfo& info) {
    Args a(info, "tokenLogprobs", 7);
    // Read in order, so the first bad argument is the one named.
    uintptr_t out = a.address(0, "out"), logits = a.address(1, "logits"), ids = a.address(2, "ids");
    uintptr_t temperature = a.address(3, "temperature");
    int rows = a.integer(4, "rows"), vocab = a.integer(5, "vocab");
    DType dtype = a.dtype(6);
    return run(info, [&] { kernels_->tokenLogprobs(out, logits, ids, temperature, rows, vocab, dtype); });
  }

  // (logits, rows, ids, values, count, numRows, vocab, dtype)
  Napi::Value addLogitBias(const Napi::CallbackInfo& info) {
    Args a(info, "addLogitBias", 8);
    // Read in order, so the first bad argument is the one named.
    uintptr_t logits = a.address(0, "logits"), rows = a.address(1, "rows"), ids = a.address(2, "ids");
    uintptr_t values = a.address(3, "values");
    int count = a.integer(4, "count"), numRows = a.integer(5, "numRows"), vocab = a.integer(6, "vocab");
    DType dtype = a.dtype(7);
    return run(info, [&] { kernels_->addLogitBias(logits, rows, ids, values, count, numRows, vocab, dtype); });
  }

  // (outIds, outLogprobs, logits, temperature, rows, vocab, k, dtype)
  Napi::Value topLogprobs(const Napi::CallbackInfo& info) {
    Args a(info, "topLogprobs", 8);
    // Read in order, so the first bad argument is the one named.
    uintptr_t outIds = a.address(0, "outIds"), outLogprobs = a.address(1, "outLogprobs");
    uintptr_t logits = a.address(2, "logits"), temperature = a.address(3, "temperature");
    int rows = a.integer(4, "rows"), vocab = a.integer(5, "vocab"), k = a.integer(6, "k");
    DType dtype = a.dtype(7);
    return run(info,
               [&] { kernels_->topLogprobs(outIds, outLogprobs, logits, temperature, rows, vocab, k, dtype); });
  }

  // (address, bytes: Uint8Array)
  Napi::Value upload(const Napi::CallbackInfo& info) {
    Args a(info, "upload", 2);
    Napi::Uint8Array bytes = a.bytes(1, "bytes");
    return run(info, [&] { kernels_->upload(a.address(0, "address"), bytes.Data(), bytes.ByteLength()); });
  }

  Napi::Value download(const Napi::CallbackInfo& info) {
    Args a(info, "download", 2);
    Napi::Uint8Array bytes = a.bytes(1, "bytes");
    return run(info, [&] { kernels_->download(bytes.Data(), a.address(0, "address"), bytes.ByteLength()); });
  }

  Napi::Value synchronize(const Napi::CallbackInfo& info) {
    return run(info, [&] { kernels_->synchronize(); });
  }

  Napi::Value canCapture(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), kernels_->canCapture());
  }

  Napi::Value beginCapture(const Napi::CallbackInfo& info) {
    return run(info, [&] { kernels_->beginCapture(); });
  }

  Napi::Value endCapture(const Napi::CallbackInfo& info) {
    int graph = -1;
    run(info, [&] { graph = kernels_->endCapture(); });
    return Napi::Number::New(info.Env(), graph);
  }

  // (graph: number) → false when the graph was dropped
  Napi::Value replay(const Napi::CallbackInfo& info) {
    Args a(info, "replay", 1);
    int graph = a.integer(0, "graph");
    bool replayed = false;
    run(info, [&] { replayed = kernels_->replay(graph); });
    return Napi::Boolean::New(info.Env(), replayed);
  }

  Napi::Value dropGraphs(const Napi::CallbackInfo& info) {
    return run(info, [&] { kernels_->dropGraphs(); });
  }

  // (maxTokens, group) → bytes
  Napi::Value scratchBytes(const Napi::CallbackInfo& info) {
    Args a(info, "scratchBytes", 2);
    int maxTokens = a.integer(0, "maxTokens"), group = a.integer(1, "group");
    size_t bytes = 0;
    run(info, [&] { bytes = kernels_->scratchBytes(maxTokens, group); });
    return Napi::Number::New(info.Env(), static_cast<double>(bytes));
  }

  // (address, bytes)
  Napi::Value useScratch(const Napi::CallbackInfo& info) {
    Args a(info, "useScratch", 2);
    uintptr_t address = a.address(0, "address");
    size_t bytes = a.count(1, "bytes");
    return run(info, [&] { kernels_->useScratch(address, bytes); });
  }

  std::shared_ptr<MemorySaver> saver_;  // keeps the device, and so the kernels, alive
  Kernels* kernels_ = nullptr;
};

}  // namespace

Napi::Function defineNativeOps(Napi::Env env) { return NativeOps::define(env); }

}  // namespace ts
