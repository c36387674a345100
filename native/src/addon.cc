// The Node-API face of the saver: one class, plain values in and out, slow work async.
#include <napi.h>

#include <memory>
#include <string>

#include "async_task.h"
#include "comm_addon.h"
#include "device.h"
#include "memory_saver.h"
#include "non_finite_addon.h"
#include "ops_addon.h"
#include "raw_copy_bench.h"

namespace ts {
namespace {

struct Done {};

Napi::Value undefinedOf(Napi::Env env, Done&) { return env.Undefined(); }

Napi::Value reportOf(Napi::Env env, TransferReport& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("physicalBytes", Napi::Number::New(env, static_cast<double>(r.physicalBytes)));
  o.Set("copiedBytes", Napi::Number::New(env, static_cast<double>(r.copiedBytes)));
  o.Set("copyMs", Napi::Number::New(env, r.copyMs));
  o.Set("mapMs", Napi::Number::New(env, r.mapMs));
  return o;
}

size_t sizeOf(const Napi::Value& v, const char* name) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a number");
  double value = v.As<Napi::Number>().DoubleValue();
  if (value < 0 || value != static_cast<double>(static_cast<uint64_t>(value))) {
    throw Napi::RangeError::New(v.Env(), std::string(name) + " must be a non-negative integer");
  }
  return static_cast<size_t>(value);
}

size_t sizeArg(const Napi::CallbackInfo& info, size_t i, const char* name) { return sizeOf(info[i], name); }

std::string stringArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Uint8Array bytesOf(const Napi::Value& v) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(v.Env(), "buffer must be a Uint8Array or Buffer");
  }
  return v.As<Napi::Uint8Array>();
}

Napi::Uint8Array bytesArg(const Napi::CallbackInfo& info, size_t i) { return bytesOf(info[i]); }

// Marks NativeMemorySaver objects, so memorySaverOf can tell them from other wrapped objects.
constexpr napi_type_tag kSaverTag = {0x5a1e5a7e0c0ffee1ull, 0x7e57ab1e5a1e0001ull};

class NativeMemorySaver : public Napi::ObjectWrap<NativeMemorySaver> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeMemorySaver",
                       {InstanceMethod<&NativeMemorySaver::allocate>("allocate"),
                        InstanceMethod<&NativeMemorySaver::free>("free"),
                        InstanceMethod<&NativeMemorySaver::pause>("pause"),
                        InstanceMethod<&NativeMemorySaver::resume>("resume"),
                        InstanceMethod<&NativeMemorySaver::copyFromHost>("copyFromHost"),
                        InstanceMethod<&NativeMemorySaver::copyToHost>("copyToHost"),
                        InstanceMethod<&NativeMemorySaver::fill>("fill"),
                        InstanceMethod<&NativeMemorySaver::checksum>("checksum"),
                        InstanceMethod<&NativeMemorySaver::markDirty>("markDirty"),
                        InstanceMethod<&NativeMemorySaver::setDeferredRestore>("setDeferredRestore"),
                        InstanceMethod<&NativeMemorySaver::restorePending>("restorePending"),
                        InstanceMethod<&NativeMemorySaver::setZeroOnResume>("setZeroOnResume"),
                        InstanceMethod<&NativeMemorySaver::restore>("restore"),
                        InstanceMethod<&NativeMemorySaver::residentBytes>("residentBytes"),
                        InstanceMethod<&NativeMemorySaver::openBackup>("openBackup"),
                        InstanceMethod<&NativeMemorySaver::closeBackup>("closeBackup"),
                        InstanceMethod<&NativeMemorySaver::writeBackup>("writeBackup"),
                        InstanceMethod<&NativeMemorySaver::readIpc>("readIpc"),
                        InstanceMethod<&NativeMemorySaver::copyIpc>("copyIpc"),
                        InstanceMethod<&NativeMemorySaver::synchronize>("synchronize"),
                        InstanceMethod<&NativeMemorySaver::stats>("stats"),
                        InstanceMethod<&NativeMemorySaver::memoryInfo>("memoryInfo"),
                        InstanceMethod<&NativeMemorySaver::failMapAfter>("failMapAfter"),
                        InstanceAccessor<&NativeMemorySaver::deviceName>("deviceName"),
                        InstanceAccessor<&NativeMemorySaver::mapsZeroed>("mapsZeroed")});
  }

  // new NativeMemorySaver(device: 'cpu' | 'cuda', deviceIndex, chunkBytes, keepBackups)
  explicit NativeMemorySaver(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeMemorySaver>(info) {
    std::string device = stringArg(info, 0, "device");
    int index = static_cast<int>(sizeArg(info, 1, "deviceIndex"));
    size_t chunkBytes = sizeArg(info, 2, "chunkBytes");
    bool keepBackups = info[3].ToBoolean();
    try {
      std::unique_ptr<Device> backend;
      if (device == "cpu") backend = createCpuDevice();
      else if (device == "cuda") backend = createCudaDevice(index);
      else throw std::invalid_argument("device must be 'cpu' or 'cuda', got '" + device + "'");
      saver_ = std::make_shared<MemorySaver>(std::move(backend), chunkBytes, keepBackups);
    } catch (const std::exception& error) {
      throw Napi::Error::New(info.Env(), error.what());
    }
    info.This().As<Napi::Object>().TypeTag(&kSaverTag);
  }

  std::shared_ptr<MemorySaver> saver() const { return saver_; }

 private:
  template <typename Result>
  Napi::Value async(const Napi::CallbackInfo& info, std::function<Result(MemorySaver&)> work,
                    typename AsyncTask<Result>::Convert convert, std::vector<Napi::Value> keep = {}) {
    keep.push_back(info.This());
    std::shared_ptr<MemorySaver> saver = saver_;
    return AsyncTask<Result>::run(info.Env(), [saver, work] { return work(*saver); }, convert, keep);
  }

  template <typename F>
  Napi::Value sync(const Napi::CallbackInfo& info, F body) {
    try {
      return body();
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& error) {
      throw Napi::Error::New(info.Env(), error.what());
    }
  }

  // allocate(bytes, tag, mode: 0 none | 1 always | 2 tracked) → Promise<{ id, address }>
  Napi::Value allocate(const Napi::CallbackInfo& info) {
    size_t bytes = sizeArg(info, 0, "bytes");
    std::string tag = stringArg(info, 1, "tag");
    auto mode = static_cast<BackupMode>(sizeArg(info, 2, "mode"));
    struct Made {
      uint64_t id;
      uintptr_t address;
    };
    return async<Made>(
        info,
        [=](MemorySaver& s) {
          Made made{};
          made.id = s.allocate(bytes, tag, mode, &made.address);
          return made;
        },
        [](Napi::Env env, Made& made) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("id", Napi::Number::New(env, static_cast<double>(made.id)));
          o.Set("address", Napi::BigInt::New(env, static_cast<uint64_t>(made.address)));
          return o;
        });
  }

  Napi::Value free(const Napi::CallbackInfo& info) {
    uint64_t id = sizeArg(info, 0, "id");
    return async<Done>(info, [=](MemorySaver& s) { return s.free(id), Done{}; }, undefinedOf);
  }

  Napi::Value pause(const Napi::CallbackInfo& info) {
    std::string tag = stringArg(info, 0, "tag");
    return async<TransferReport>(info, [=](MemorySaver& s) { return s.pause(tag); }, reportOf);
  }

  Napi::Value resume(const Napi::CallbackInfo& info) {
    std::string tag = stringArg(info, 0, "tag");
    return async<TransferReport>(info, [=](MemorySaver& s) { return s.resume(tag); }, reportOf);
  }

  // copyFromHost(id, offset, bytes: Uint8Array)
  Napi::Value copyFromHost(const Napi::CallbackInfo& info) {
    uint64_t id = sizeArg(info, 0, "id");
    size_t offset = sizeArg(info, 1, "offset");
    Napi::Uint8Array buffer = bytesArg(info, 2);
    const uint8_t* data = buffer.Data();
    size_t length = buffer.ByteLength();
    return async<Done>(
        info, [=](MemorySaver& s) { return s.copyFromHost(id, offset, data, length), Done{}; }, undefinedOf,
        {buffer});
  }

  Napi::Value copyToHost(const Napi::CallbackInfo& info) {
    uint64_t id = sizeArg(info, 0, "id");
    size_t offset = sizeArg(info, 1, "offset");
    Napi::Uint8Array buffer = bytesArg(info, 2);
    uint8_t* data = buffer.Data();
    size_t length = buffer.ByteLength();
    return async<Done>(
        info, [=](MemorySaver& s) { return s.copyToHost(id, offset, data, length), Done{}; }, undefinedOf,
        {buffer});
  }

  // fill(id, offset, bytes, value)
  Napi::Value fill(const Napi::CallbackInfo& info) {
    uint64_t id = sizeArg(info, 0, "id");
    size_t offset = sizeArg(info, 1, "offset");
    size_t bytes = sizeArg(info, 2, "bytes");
    size_t value = sizeArg(info, 3, "value");
    if (value > 255) throw Napi::RangeError::New(info.Env(), "value must be a byte (0-255)");
    return async<Done>(
        info, [=](MemorySaver& s) { return s.fill(id, offset, bytes, static_cast<uint8_t>(value)), Done{}; },
        undefinedOf);
  }

  Napi::Value checksum(const Napi::CallbackInfo& info) {
    uint64_t id = sizeArg(info, 0, "id");
    size_t offset = sizeArg(info, 1, "offset");
    size_t bytes = sizeArg(info, 2, "bytes");
    return async<uint64_t>(
        info, [=](MemorySaver& s) { return s.checksum(id, offset, bytes); },
        [](Napi::Env env, uint64_t& sum) -> Napi::Value { return Napi::BigInt::New(env, sum); });
  }

  Napi::Value markDirty(const Napi::CallbackInfo& info) {
    return sync(info, [&] {
      saver_->markDirty(sizeArg(info, 0, "id"));
      return info.Env().Undefined();
    });
  }

  // setDeferredRestore(id, deferred: boolean)
  Napi::Value setDeferredRestore(const Napi::CallbackInfo& info) {
    return sync(info, [&] {
      saver_->setDeferredRestore(sizeArg(info, 0, "id"), info[1].ToBoolean().Value());
      return info.Env().Undefined();
    });
  }

  // setZeroOnResume(id, zero: boolean)
  Napi::Value setZeroOnResume(const Napi::CallbackInfo& info) {
    return sync(info, [&] {
      saver_->setZeroOnResume(sizeArg(info, 0, "id"), info[1].ToBoolean().Value());
      return info.Env().Undefined();
    });
  }

  Napi::Value restorePending(const Napi::CallbackInfo& info) {
    return sync(info, [&]() -> Napi::Value {
      return Napi::Boolean::New(info.Env(), saver_->restorePending(sizeArg(info, 0, "id")));
    });
  }

  // restore(id) → Promise<boolean>: whether it copied
  Napi::Value restore(const Napi::CallbackInfo& info) {
    uint64_t id = sizeArg(info, 0, "id");
    return async<bool>(
        info, [=](MemorySaver& s) { return s.restore(id); },
        [](Napi::Env env, bool& copied) -> Napi::Value { return Napi::Boolean::New(env, copied); });
  }

  Napi::Value residentBytes(const Napi::CallbackInfo& info) {
    return sync(info, [&]() -> Napi::Value {
      return Napi::Number::New(info.Env(), static_cast<double>(saver_->residentBytes(sizeArg(info, 0, "id"))));
    });
  }

  // openBackup(id) → ArrayBuffer over the host backup; valid until closeBackup detaches it.
  Napi::Value openBackup(const Napi::CallbackInfo& info) {
    return sync(info, [&]() -> Napi::Value {
      HostView view = saver_->openBackup(sizeArg(info, 0, "id"));
      return Napi::ArrayBuffer::New(info.Env(), view.data, view.bytes);
    });
  }

  // closeBackup(id, view: ArrayBuffer, upload: boolean) → Promise
  Napi::Value closeBackup(const Napi::CallbackInfo& info) {
    uint64_t id = sizeArg(info, 0, "id");
    if (!info[1].IsArrayBuffer()) throw Napi::TypeError::New(info.Env(), "view must be the ArrayBuffer openBackup gave");
    Napi::ArrayBuffer view = info[1].As<Napi::ArrayBuffer>();
    if (!view.IsDetached()) view.Detach();
    bool upload = info[2].ToBoolean();
    return async<Done>(info, [=](MemorySaver& s) { return s.closeBackup(id, upload), Done{}; }, undefinedOf);
  }

  // writeBackup(id, offsets: number[], pieces: Uint8Array[]) → Promise: pieces[i] at offsets[i]
  Napi::Value writeBackup(const Napi::CallbackInfo& info) {
    uint64_t id = sizeArg(info, 0, "id");
    if (!info[1].IsArray() || !info[2].IsArray()) {
      throw Napi::TypeError::New(info.Env(), "offsets and pieces must be arrays");
    }
    Napi::Array offsets = info[1].As<Napi::Array>();
    Napi::Array buffers = info[2].As<Napi::Array>();
    if (offsets.Length() != buffers.Length()) throw Napi::RangeError::New(info.Env(), "one offset per piece");
    std::vector<HostPiece> pieces;
    std::vector<Napi::Value> keep;
    for (uint32_t i = 0; i < buffers.Length(); ++i) {
      Napi::Uint8Array bytes = bytesOf(buffers.Get(i));
      pieces.push_back(HostPiece{sizeOf(offsets.Get(i), "offset"), bytes.Data(), bytes.ByteLength()});
      keep.push_back(bytes);
    }
    return async<Done>(
        info, [=](MemorySaver& s) { return s.writeBackup(id, pieces), Done{}; }, undefinedOf, keep);
  }

  // readIpc(handle: Uint8Array, event: Uint8Array | null, offsets: number[], into: Uint8Array[])
  Napi::Value readIpc(const Napi::CallbackInfo& info) {
    Napi::Uint8Array handle = bytesOf(info[0]);
    if (!info[2].IsArray() || !info[3].IsArray()) {
      throw Napi::TypeError::New(info.Env(), "offsets and pieces must be arrays");
    }
    IpcRead read;
    read.handle.assign(handle.Data(), handle.Data() + handle.ByteLength());
    if (!info[1].IsNull()) {
      Napi::Uint8Array event = bytesOf(info[1]);
      read.event.assign(event.Data(), event.Data() + event.ByteLength());
    }
    Napi::Array offsets = info[2].As<Napi::Array>();
    Napi::Array buffers = info[3].As<Napi::Array>();
    if (offsets.Length() != buffers.Length()) throw Napi::RangeError::New(info.Env(), "one offset per piece");
    std::vector<Napi::Value> keep;
    for (uint32_t i = 0; i < buffers.Length(); ++i) {
      Napi::Uint8Array bytes = bytesOf(buffers.Get(i));
      read.pieces.push_back({sizeOf(offsets.Get(i), "offset"), HostPiece{0, bytes.Data(), bytes.ByteLength()}});
      keep.push_back(bytes);
    }
    return async<Done>(
        info, [read](MemorySaver& s) { return s.readIpc(read), Done{}; }, undefinedOf, keep);
  }

  // copyIpc(id, sources: { handle, events: Uint8Array[] }[], pieces: { source, from, to,
  //   elements, fromType, toType }[], refuseNonFinite: boolean)
  //   → Promise<{ counts: { count, first }[], openMs, scanMs, copyMs, closeMs }>
  Napi::Value copyIpc(const Napi::CallbackInfo& info) {
    uint64_t id = sizeArg(info, 0, "id");
    if (!info[1].IsArray() || !info[2].IsArray()) throw Napi::TypeError::New(info.Env(), "sources and pieces must be arrays");
    IpcCopy copy;
    Napi::Array sources = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < sources.Length(); ++i) {
      Napi::Object s = sources.Get(i).As<Napi::Object>();
      Napi::Uint8Array handle = bytesOf(s.Get("handle"));
      IpcSource source;
      source.handle.assign(handle.Data(), handle.Data() + handle.ByteLength());
      if (!s.Get("events").IsArray()) throw Napi::TypeError::New(info.Env(), "events must be an array");
      Napi::Array events = s.Get("events").As<Napi::Array>();
      for (uint32_t e = 0; e < events.Length(); ++e) {
        Napi::Uint8Array event = bytesOf(events.Get(e));
        source.events.emplace_back(event.Data(), event.Data() + event.ByteLength());
      }
      copy.sources.push_back(std::move(source));
    }
    Napi::Array pieces = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < pieces.Length(); ++i) {
      Napi::Object p = pieces.Get(i).As<Napi::Object>();
      copy.pieces.push_back({sizeOf(p.Get("source"), "source"), sizeOf(p.Get("from"), "from"),
                             sizeOf(p.Get("to"), "to"), sizeOf(p.Get("elements"), "elements"),
                             dtypeOf(p.Get("fromType")), dtypeOf(p.Get("toType"))});
    }
    copy.refuseNonFinite = info[3].ToBoolean();
    return async<IpcCopyReport>(
        info, [copy, id](MemorySaver& s) { return s.copyIpc(id, copy); },
        [](Napi::Env env, IpcCopyReport& r) -> Napi::Value {
          Napi::Array counts = Napi::Array::New(env, r.counts.size());
          for (size_t i = 0; i < r.counts.size(); ++i) counts.Set(static_cast<uint32_t>(i), nonFiniteCountOf(env, r.counts[i]));
          Napi::Object out = Napi::Object::New(env);
          out.Set("counts", counts);
          out.Set("openMs", Napi::Number::New(env, r.openMs));
          out.Set("scanMs", Napi::Number::New(env, r.scanMs));
          out.Set("copyMs", Napi::Number::New(env, r.copyMs));
          out.Set("closeMs", Napi::Number::New(env, r.closeMs));
          return out;
        });
  }

  Napi::Value synchronize(const Napi::CallbackInfo& info) {
    return async<Done>(info, [](MemorySaver& s) { return s.synchronize(), Done{}; }, undefinedOf);
  }

  Napi::Value stats(const Napi::CallbackInfo& info) {
    return sync(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      std::vector<TagStats> all = saver_->stats();
      Napi::Array out = Napi::Array::New(env, all.size());
      for (size_t i = 0; i < all.size(); ++i) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("tag", all[i].tag);
        o.Set("paused", all[i].paused);
        o.Set("allocations", static_cast<double>(all[i].allocations));
        o.Set("reservedBytes", static_cast<double>(all[i].reservedBytes));
        o.Set("residentBytes", static_cast<double>(all[i].residentBytes));
        o.Set("backupBytes", static_cast<double>(all[i].backupBytes));
        out.Set(i, o);
      }
      return out;
    });
  }

  Napi::Value memoryInfo(const Napi::CallbackInfo& info) {
    return sync(info, [&]() -> Napi::Value {
      MemoryInfo m = saver_->memoryInfo();
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("free", static_cast<double>(m.free));
      o.Set("total", static_cast<double>(m.total));
      return o;
    });
  }

  Napi::Value failMapAfter(const Napi::CallbackInfo& info) {
    return sync(info, [&] {
      saver_->failMapAfter(static_cast<int64_t>(sizeArg(info, 0, "successes")));
      return info.Env().Undefined();
    });
  }

  Napi::Value deviceName(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), saver_->deviceName()); }
  Napi::Value mapsZeroed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), saver_->mapsZeroed()); }

  std::shared_ptr<MemorySaver> saver_;
};

}  // namespace

std::shared_ptr<MemorySaver> memorySaverOf(const Napi::Value& value) {
  if (!value.IsObject() || !value.As<Napi::Object>().CheckTypeTag(&kSaverTag)) {
    throw Napi::TypeError::New(value.Env(), "expected a NativeMemorySaver");
  }
  return NativeMemorySaver::Unwrap(value.As<Napi::Object>())->saver();
}

}  // namespace ts

static Napi::Value cudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ts::cudaDeviceCount());
}

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeMemorySaver", ts::NativeMemorySaver::define(env));
  exports.Set("NativeOps", ts::defineNativeOps(env));
  exports.Set("NativeCommunicator", ts::defineNativeCommunicator(env));
  exports.Set("cudaCompiledIn", Napi::Boolean::New(env, ts::cudaCompiledIn()));
  exports.Set("cudaDeviceCount", Napi::Function::New(env, cudaDeviceCount, "cudaDeviceCount"));
  exports.Set("countNonFinite", Napi::Function::New(env, ts::countNonFinite, "countNonFinite"));
  exports.Set("rawCopyBench", Napi::Function::New(env, ts::rawCopyBench, "rawCopyBench"));
  return exports;
}

NODE_API_MODULE(ts_memory_saver, InitAddon)
