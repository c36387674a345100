// The Node-API face of the non-finite scan: any typed array or DataView (shared memory too),
// scanned in place on a libuv thread, the view kept alive until the promise settles.
#include "non_finite_addon.h"

#include <string>

#include "async_task.h"
#include "kernels/cpu/non_finite.h"

namespace ts {
namespace {

struct HostBytes {
  const void* data = nullptr;
  size_t length = 0;
};

HostBytes viewOf(const Napi::Value& value) {
  napi_env env = value.Env();
  HostBytes out;
  void* data = nullptr;
  napi_status status = napi_ok;
  if (value.IsTypedArray()) {
    napi_typedarray_type type;
    size_t elements = 0;
    status = napi_get_typedarray_info(env, value, &type, &elements, &data, nullptr, nullptr);
    out.length = elements * Napi::TypedArray(env, value).ElementSize();
  } else if (value.IsDataView()) {
    status = napi_get_dataview_info(env, value, &out.length, &data, nullptr, nullptr);
  } else {
    throw Napi::TypeError::New(env, "bytes must be a typed array, Buffer or DataView");
  }
  if (status != napi_ok) throw Napi::Error::New(env, "cannot read the bytes of this view");
  out.data = data;
  return out;
}

}  // namespace

DType dtypeOf(const Napi::Value& value) {
  if (!value.IsNumber()) throw Napi::TypeError::New(value.Env(), "dtype must be a number");
  int code = value.As<Napi::Number>().Int32Value();
  if (code < 0 || code > 2) {
    throw Napi::RangeError::New(value.Env(), "dtype must be 0 (float32), 1 (bfloat16) or 2 (float16), got " +
                                                 std::to_string(code));
  }
  return static_cast<DType>(code);
}

Napi::Object nonFiniteCountOf(Napi::Env env, const NonFiniteCount& found) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("count", Napi::Number::New(env, static_cast<double>(found.count)));
  o.Set("first", Napi::Number::New(env, found.count > 0 ? static_cast<double>(found.first) : -1.0));
  return o;
}

Napi::Value countNonFinite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HostBytes bytes = viewOf(info[0]);
  DType dtype = dtypeOf(info[1]);
  size_t size = dtypeSize(dtype);
  if (bytes.length % size != 0) {
    throw Napi::RangeError::New(env, std::to_string(bytes.length) + " bytes is not a whole number of " +
                                         std::to_string(size) + "-byte values");
  }
  return AsyncTask<NonFiniteCount>::run(
      env, [=] { return cpu::countNonFinite(bytes.data, bytes.length / size, dtype); },
      [](Napi::Env env, NonFiniteCount& found) -> Napi::Value { return nonFiniteCountOf(env, found); },
      {info[0]});
}

}  // namespace ts
