// The collectives are synchronous on purpose. Their callers are rank workers (worker threads)
// inside a forward pass, whose kernels (NativeOps) are synchronous too. On the libuv pool,
// which all threads of the process share (4 threads by default), each waiting rank would hold
// a pool thread until the last rank arrives: at a world size past the pool's, nobody arrives.
#include "comm_addon.h"

#include <chrono>
#include <memory>
#include <string>

#include "comm/cpu_communicator.h"
#include "ops_addon.h"

namespace ts {
namespace {

double numberArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  double value = info[i].As<Napi::Number>().DoubleValue();
  if (value < 0 || value != static_cast<double>(static_cast<uint64_t>(value))) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be a non-negative integer");
  }
  return value;
}

DType dtypeArg(const Napi::CallbackInfo& info, size_t i) {
  double code = numberArg(info, i, "dtype");
  if (code > 2) throw Napi::RangeError::New(info.Env(), "dtype must be 0 (float32), 1 (bfloat16) or 2 (float16)");
  return static_cast<DType>(static_cast<int>(code));
}

class NativeCommunicator : public Napi::ObjectWrap<NativeCommunicator> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeCommunicator",
                       {InstanceMethod<&NativeCommunicator::allReduceSum>("allReduceSum"),
                        InstanceMethod<&NativeCommunicator::allGather>("allGather"),
                        InstanceMethod<&NativeCommunicator::close>("close")});
  }

  explicit NativeCommunicator(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeCommunicator>(info) {
    saver_ = memorySaverOf(info[0]);
    if (!info[1].IsString()) throw Napi::TypeError::New(info.Env(), "groupId must be a string");
    std::string groupId = info[1].As<Napi::String>().Utf8Value();
    int worldSize = static_cast<int>(numberArg(info, 2, "worldSize"));
    int rank = static_cast<int>(numberArg(info, 3, "rank"));
    auto timeout = std::chrono::milliseconds(static_cast<int64_t>(numberArg(info, 4, "timeoutMs")));
    std::string device = saver_->deviceName();
    if (device != "cpu") {
      throw Napi::Error::New(info.Env(), "a CPU communicator reduces host memory, and this saver's memory is on " +
                                             device + "; collectives on CUDA memory need NCCL (not implemented yet)");
    }
    run(info, [&] { communicator_ = std::make_unique<comm::CpuCommunicator>(groupId, worldSize, rank, timeout); });
  }

 private:
  template <typename F>
  void run(const Napi::CallbackInfo& info, F body) {
    try {
      body();
    } catch (const std::exception& error) {
      throw Napi::Error::New(info.Env(), error.what());
    }
  }

  // allReduceSum(address, count, dtype)
  Napi::Value allReduceSum(const Napi::CallbackInfo& info) {
    auto address = static_cast<uintptr_t>(numberArg(info, 0, "address"));
    auto count = static_cast<size_t>(numberArg(info, 1, "count"));
    DType dtype = dtypeArg(info, 2);
    run(info, [&] { communicator_->allReduceSum(address, count, dtype); });
    return info.Env().Undefined();
  }

  // allGather(input, count, dtype, out, rows)
  Napi::Value allGather(const Napi::CallbackInfo& info) {
    auto input = static_cast<uintptr_t>(numberArg(info, 0, "input"));
    auto count = static_cast<size_t>(numberArg(info, 1, "count"));
    DType dtype = dtypeArg(info, 2);
    auto out = static_cast<uintptr_t>(numberArg(info, 3, "out"));
    auto rows = static_cast<size_t>(numberArg(info, 4, "rows"));
    run(info, [&] { communicator_->allGather(input, count, dtype, out, rows); });
    return info.Env().Undefined();
  }

  Napi::Value close(const Napi::CallbackInfo& info) {
    communicator_->close();
    return info.Env().Undefined();
  }

  std::shared_ptr<MemorySaver> saver_;  // the memory the addresses point into stays mapped
  std::unique_ptr<comm::CpuCommunicator> communicator_;
};

}  // namespace

Napi::Function defineNativeCommunicator(Napi::Env env) { return NativeCommunicator::define(env); }

}  // namespace ts
