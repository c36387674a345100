// Runs slow native work off the event loop and settles a Promise with its result.
#pragma once

#include <napi.h>

#include <exception>
#include <functional>
#include <utility>
#include <vector>

namespace ts {

template <typename Result>
class AsyncTask final : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using Convert = std::function<Napi::Value(Napi::Env, Result&)>;

  // `keepAlive`: JS values (buffers, the saver) that must outlive the work.
  static Napi::Promise run(Napi::Env env, Work work, Convert convert, std::vector<Napi::Value> keepAlive = {}) {
    auto* task = new AsyncTask(env, std::move(work), std::move(convert), keepAlive);
    Napi::Promise promise = task->deferred_.Promise();
    task->Queue();
    return promise;
  }

 protected:
  void Execute() override {
    try {
      result_ = work_();
    } catch (const std::exception& error) {
      SetError(error.what());
    } catch (...) {
      SetError("unknown native error");
    }
  }

  void OnOK() override { deferred_.Resolve(convert_(Env(), result_)); }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  AsyncTask(Napi::Env env, Work work, Convert convert, const std::vector<Napi::Value>& keepAlive)
      : Napi::AsyncWorker(env, "ts-memory-saver"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        convert_(std::move(convert)) {
    for (const Napi::Value& value : keepAlive) kept_.push_back(Napi::Persistent(value));
  }

  Napi::Promise::Deferred deferred_;
  Work work_;
  Convert convert_;
  Result result_{};
  std::vector<Napi::Reference<Napi::Value>> kept_;
};

}  // namespace ts
