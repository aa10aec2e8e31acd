// Files: openBeneath(root, path, {directory, walk}, callback?) -> fd (the caller closes it);
// linkBeneath(source, root, dir, name) -> undefined (a hard link below root, following no symlink);
// makeWhiteout(path) -> undefined (an overlayfs whiteout); setXattr(path, name, value) ->
// undefined. With a callback: on a libuv pool thread (the path may cross a slow file system), then
// callback(err | null, fd).
#include "js/js_fs.h"

#include <string>
#include <utility>

#include "core/fs.h"
#include "js/js_err.h"

namespace crl {

namespace {

class OpenBeneathWorker : public Napi::AsyncWorker {
 public:
  OpenBeneathWorker(Napi::Function cb, std::string root, std::string path, int flags)
      : Napi::AsyncWorker(cb), root_(std::move(root)), path_(std::move(path)), flags_(flags) {
    crl_err_clear(&err_);
  }
  void Execute() override {
    fd_ = crl_open_beneath(root_.c_str(), path_.c_str(), flags_, &err_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (fd_ < 0) {
      Callback().Call({NativeErrorValue(env, err_)});
      return;
    }
    Callback().Call({env.Null(), Napi::Number::New(env, fd_)});
  }

 private:
  std::string root_, path_;
  int flags_;
  int fd_ = -1;
  crl_err err_;
};

}  // namespace

Napi::Value OpenBeneath(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string root, path;
  bool directory, walk;
  if (!ArgString(info, 0, "root", &root) || !ArgString(info, 1, "path", &path) ||
      !OptBool(info, 2, "directory", &directory) || !OptBool(info, 2, "walk", &walk))
    return env.Undefined();
  int flags = (directory ? CRL_BENEATH_DIRECTORY : 0) | (walk ? CRL_BENEATH_WALK : 0);
  if (info.Length() > 3 && info[3].IsFunction()) {
    (new OpenBeneathWorker(info[3].As<Napi::Function>(), std::move(root), std::move(path), flags))
        ->Queue();
    return env.Undefined();
  }
  crl_err err;
  crl_err_clear(&err);
  int fd = crl_open_beneath(root.c_str(), path.c_str(), flags, &err);
  if (fd < 0) return ThrowNative(env, err);
  return Napi::Number::New(env, fd);
}

Napi::Value LinkBeneath(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string source, root, dir, name;
  if (!ArgString(info, 0, "source", &source) || !ArgString(info, 1, "root", &root) ||
      !ArgString(info, 2, "dir", &dir) || !ArgString(info, 3, "name", &name))
    return env.Undefined();
  crl_err err;
  crl_err_clear(&err);
  if (crl_link_beneath(source.c_str(), root.c_str(), dir.c_str(), name.c_str(), &err) < 0)
    return ThrowNative(env, err);
  return env.Undefined();
}

Napi::Value MakeWhiteout(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!ArgString(info, 0, "path", &path)) return env.Undefined();
  crl_err err;
  crl_err_clear(&err);
  if (crl_make_whiteout(path.c_str(), &err) < 0) return ThrowNative(env, err);
  return env.Undefined();
}

Napi::Value SetXattr(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path, name, value;
  if (!ArgString(info, 0, "path", &path) || !ArgString(info, 1, "name", &name) ||
      !ArgString(info, 2, "value", &value))
    return env.Undefined();
  crl_err err;
  crl_err_clear(&err);
  if (crl_set_xattr(path.c_str(), name.c_str(), value.c_str(), &err) < 0)
    return ThrowNative(env, err);
  return env.Undefined();
}

// getXattr(path, name) -> the value as a string, or undefined when it is not set.
Napi::Value GetXattr(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path, name;
  if (!ArgString(info, 0, "path", &path) || !ArgString(info, 1, "name", &name))
    return env.Undefined();
  char buf[4096];
  int present = 0;
  crl_err err;
  crl_err_clear(&err);
  int n = crl_get_xattr(path.c_str(), name.c_str(), buf, sizeof buf, &present, &err);
  if (n < 0) return ThrowNative(env, err);
  if (!present) return env.Undefined();
  return Napi::String::New(env, buf, (size_t)n);
}

}  // namespace crl
