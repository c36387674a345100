#include "ops_addon.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

namespace ts {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1

// Converts one JS value to a kernel argument, throwing JS TypeError / RangeError that name it.
class Reader {
 public:
  Reader(Napi::Env env, const char* method) : env_(env), method_(method) {}

  double number(const Napi::Value& v, const char* name) const {
    double value = 0;
    // One call where IsNumber and DoubleValue would make two: it fails for anything but a number.
    if (napi_get_value_double(env_, v, &value) != napi_ok) {
      throw Napi::TypeError::New(env_, prefix(name) + "must be a number");
    }
    return value;
  }

  uintptr_t address(const Napi::Value& v, const char* name) const {
    double value = number(v, name);
    if (!(value >= 0 && value <= kMaxSafeInteger) || value != std::floor(value)) {
      throw Napi::RangeError::New(env_, prefix(name) + "must be an address: an integer in [0, 2^53), got " +
                                            Napi::Number::New(env_, value).ToString().Utf8Value());
    }
    return static_cast<uintptr_t>(value);
  }

  // Any int32; the kernels decide which values they accept.
  int integer(const Napi::Value& v, const char* name) const {
    double value = number(v, name);
    if (!(value >= -2147483648.0 && value <= 2147483647.0) || value != std::floor(value)) {
      throw Napi::RangeError::New(env_, prefix(name) + "must be a 32-bit integer, got " +
                                            Napi::Number::New(env_, value).ToString().Utf8Value());
    }
    return static_cast<int>(value);
  }

  bool flag(const Napi::Value& v, const char* name) const {
    if (!v.IsBoolean()) throw Napi::TypeError::New(env_, prefix(name) + "must be a boolean");
    return v.As<Napi::Boolean>().Value();
  }
  float real(const Napi::Value& v, const char* name) const { return static_cast<float>(number(v, name)); }

  Napi::Uint8Array bytes(const Napi::Value& v, const char* name) const {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(env_, prefix(name) + "must be a Uint8Array");
    }
    return v.As<Napi::Uint8Array>();
  }

  Napi::Object object(const Napi::Value& v, const char* name) const {
    if (!v.IsObject()) throw Napi::TypeError::New(env_, prefix(name) + "must be an object");
    return v.As<Napi::Object>();
  }

  Napi::Env env() const { return env_; }
  const char* method() const { return method_; }

 private:
  std::string prefix(const char* name) const { return std::string(method_) + ": " + name + " "; }
  Napi::Env env_;
  const char* method_;
};

// Reads positional arguments (the calls that take a few plain numbers).
class Args : public Reader {
 public:
  Args(const Napi::CallbackInfo& info, const char* method, size_t count) : Reader(info.Env(), method), info_(info) {
    if (info.Length() < count) {
      throw Napi::TypeError::New(info.Env(), std::string(method) + " expects " + std::to_string(count) +
                                                 " arguments, got " + std::to_string(info.Length()));
    }
  }

  uintptr_t address(size_t i, const char* name) const { return Reader::address(info_[i], name); }
  int integer(size_t i, const char* name) const { return Reader::integer(info_[i], name); }
  size_t count(size_t i, const char* name) const { return address(i, name); }
  DType dtype(size_t i, const char* name = "dtype") const { return static_cast<DType>(integer(i, name)); }
  Napi::Uint8Array bytes(size_t i, const char* name) const { return Reader::bytes(info_[i], name); }

 private:
  const Napi::CallbackInfo& info_;
};

// Reads a kernel's argument object into its struct: `fields` (kernels.h) visits every field in
// declaration order, so the first bad field is the one named. Sizes (size_t) are uintptr_t here
// and read as addresses are: integers in [0, 2^53).
class Fields {
 public:
  Fields(const Reader& reader, Napi::Object object) : reader_(reader), object_(object) {}

  void operator()(const char* name, uintptr_t& field) const { field = reader_.address(get(name), name); }
  void operator()(const char* name, const int32_t*& field) const {
    field = reinterpret_cast<const int32_t*>(reader_.address(get(name), name));
  }
  void operator()(const char* name, int& field) const { field = reader_.integer(get(name), name); }
  void operator()(const char* name, float& field) const { field = reader_.real(get(name), name); }
  void operator()(const char* name, bool& field) const { field = reader_.flag(get(name), name); }
  void operator()(const char* name, DType& field) const {
    field = static_cast<DType>(reader_.integer(get(name), name));
  }
  void operator()(const char* name, RotaryLayout& field) const {
    field = static_cast<RotaryLayout>(reader_.integer(get(name), name));
  }
  // A nested struct (AttentionArgs::batch): its own object, its fields named alone.
  template <typename Struct>
  void operator()(const char* name, Struct& field) const {
    fields(field, Fields(reader_, reader_.object(get(name), name)));
  }

 private:
  Napi::Value get(const char* name) const { return object_.Get(name); }
  const Reader& reader_;
  Napi::Object object_;
};
static_assert(std::is_same_v<size_t, uintptr_t>, "Fields reads size_t fields as uintptr_t");

// A kernel's name as a template argument.
template <size_t N>
struct Name {
  constexpr Name(const char (&text)[N]) { std::copy_n(text, N, value); }
  char value[N];
};

// The argument struct of a kernel `void (Kernels::*)(const A&)`.
template <typename Kernel>
struct ArgsOf;
template <typename A>
struct ArgsOf<void (Kernels::*)(const A&)> {
  using type = A;
};

// A kernel that takes its argument struct: `kernel<"rotary", &Kernels::rotary>`, as "rotary".
#define TS_KERNEL(name) InstanceMethod<&NativeOps::kernel<#name, &Kernels::name>>(#name)

class NativeOps : public Napi::ObjectWrap<NativeOps> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeOps",
                       {TS_KERNEL(embedding),
                        TS_KERNEL(rmsNorm),
                        TS_KERNEL(addRmsNorm),
                        InstanceMethod<&NativeOps::add>("add"),
                        TS_KERNEL(rotary),
                        TS_KERNEL(storeKv),
                        TS_KERNEL(rotaryStoreKv),
                        TS_KERNEL(attention),
                        TS_KERNEL(siluAndMul),
                        TS_KERNEL(gemm),
                        InstanceMethod<&NativeOps::convert>("convert"),
                        TS_KERNEL(sample),
                        TS_KERNEL(tokenLogprobs),
                        TS_KERNEL(addLogitBias),
                        TS_KERNEL(topLogprobs),
                        InstanceMethod<&NativeOps::upload>("upload"),
                        InstanceMethod<&NativeOps::download>("download"),
                        InstanceMethod<&NativeOps::synchronize>("synchronize"),
                        InstanceMethod<&NativeOps::queueDownload>("queueDownload"),
                        InstanceMethod<&NativeOps::takeDownload>("takeDownload"),
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

  // (args: object) — the kernel's argument struct, one property per field.
  template <Name kName, auto kKernel>
  Napi::Value kernel(const Napi::CallbackInfo& info) {
    Reader reader(info.Env(), kName.value);
    if (info.Length() < 1 || !info[0].IsObject()) {
      throw Napi::TypeError::New(info.Env(), std::string(kName.value) + " expects an object of arguments");
    }
    typename ArgsOf<decltype(kKernel)>::type args{};
    fields(args, Fields(reader, info[0].As<Napi::Object>()));
    return run(info, [&] { (kernels_->*kKernel)(args); });
  }

  // (out, a, b, n, dtype)
  Napi::Value add(const Napi::CallbackInfo& info) {
    Args a(info, "add", 5);
    return run(info, [&] {
      kernels_->add(a.address(0, "out"), a.address(1, "a"), a.address(2, "b"), a.count(3, "n"), a.dtype(4));
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

  // (address, bytes: number) → ticket
  Napi::Value queueDownload(const Napi::CallbackInfo& info) {
    Args a(info, "queueDownload", 2);
    int ticket = -1;
    run(info, [&] { ticket = kernels_->queueDownload(a.address(0, "address"), a.count(1, "bytes")); });
    return Napi::Number::New(info.Env(), ticket);
  }

  // (ticket: number, bytes: Uint8Array)
  Napi::Value takeDownload(const Napi::CallbackInfo& info) {
    Args a(info, "takeDownload", 2);
    Napi::Uint8Array bytes = a.bytes(1, "bytes");
    return run(info, [&] { kernels_->takeDownload(a.integer(0, "ticket"), bytes.Data(), bytes.ByteLength()); });
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

#undef TS_KERNEL

Napi::Function defineNativeOps(Napi::Env env) { return NativeOps::define(env); }

}  // namespace ts
