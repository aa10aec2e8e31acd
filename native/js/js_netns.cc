// Network namespaces: createNetns(name, callback?) -> boolean, removeNetns(name, callback?) ->
// boolean (with a callback: on a worker thread, callback(err | null, changed)), getNetns(name) ->
// {path, dev, inode} | undefined.
#include "js/js_netns.h"

#include <string>
#include <utility>

#include "core/netns.h"
#include "js/js_err.h"

namespace crl {

namespace {

// The same on a libuv pool thread (the namespace work itself runs on a private thread in the
// core, never on the pool thread): callback(err | null, changed).
class ChangeWorker : public Napi::AsyncWorker {
 public:
  ChangeWorker(Napi::Function cb, std::string name, int (*fn)(const char *, crl_err *))
      : Napi::AsyncWorker(cb), name_(std::move(name)), fn_(fn) {
    crl_err_clear(&err_);
  }
  void Execute() override {
    rc_ = fn_(name_.c_str(), &err_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (rc_ < 0) {
      Callback().Call({NativeErrorValue(env, err_)});
      return;
    }
    Callback().Call({env.Null(), Napi::Boolean::New(env, rc_ == 1)});
  }

 private:
  std::string name_;
  int (*fn_)(const char *, crl_err *);
  int rc_ = 0;
  crl_err err_;
};

// create/remove: (name, callback?) -> whether something changed.
Napi::Value Change(const Napi::CallbackInfo &info, int (*fn)(const char *, crl_err *)) {
  std::string name;
  if (!ArgString(info, 0, "name", &name)) return info.Env().Undefined();
  if (info.Length() > 1 && info[1].IsFunction()) {
    (new ChangeWorker(info[1].As<Napi::Function>(), std::move(name), fn))->Queue();
    return info.Env().Undefined();
  }
  crl_err err;
  crl_err_clear(&err);
  int rc = fn(name.c_str(), &err);
  if (rc < 0) return ThrowNative(info.Env(), err);
  return Napi::Boolean::New(info.Env(), rc == 1);
}

}  // namespace

Napi::Value CreateNetns(const Napi::CallbackInfo &info) {
  return Change(info, crl_netns_create);
}

Napi::Value RemoveNetns(const Napi::CallbackInfo &info) {
  return Change(info, crl_netns_remove);
}

Napi::Value GetNetns(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ArgString(info, 0, "name", &name)) return env.Undefined();
  crl_err err;
  crl_err_clear(&err);
  crl_netns_info ns{};
  int rc = crl_netns_get(name.c_str(), &ns, &err);
  if (rc < 0) return ThrowNative(env, err);
  if (rc == 0) return env.Undefined();
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", Napi::String::New(env, name));
  o.Set("path", Napi::String::New(env, std::string(CRL_NETNS_RUN_DIR "/") + name));
  o.Set("dev", Napi::Number::New(env, static_cast<double>(ns.dev)));
  o.Set("inode", Napi::Number::New(env, static_cast<double>(ns.ino)));
  return o;
}

}  // namespace crl
