// Mounts: bindMount(source, target, {readOnly, recursive}) -> undefined,
// unmount(target, {detach}) -> boolean, getMount(path) -> MountInfo | undefined.
#include "js/js_mount.h"

#include <memory>

#include "core/mount.h"
#include "js/js_err.h"

namespace crl {

Napi::Value BindMount(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string source, target;
  bool read_only, recursive;
  if (!ArgString(info, 0, "source", &source) || !ArgString(info, 1, "target", &target) ||
      !OptBool(info, 2, "readOnly", &read_only) || !OptBool(info, 2, "recursive", &recursive))
    return env.Undefined();
  crl_err err;
  crl_err_clear(&err);
  int flags = (read_only ? CRL_BIND_READ_ONLY : 0) | (recursive ? CRL_BIND_RECURSIVE : 0);
  if (crl_bind_mount(source.c_str(), target.c_str(), flags, &err) < 0) return ThrowNative(env, err);
  return env.Undefined();
}

Napi::Value Unmount(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string target;
  bool detach;
  if (!ArgString(info, 0, "target", &target) || !OptBool(info, 1, "detach", &detach))
    return env.Undefined();
  crl_err err;
  crl_err_clear(&err);
  int rc = crl_unmount(target.c_str(), detach ? CRL_UNMOUNT_DETACH : 0, &err);
  if (rc < 0) return ThrowNative(env, err);
  return Napi::Boolean::New(env, rc == 1);
}

Napi::Value GetMount(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!ArgString(info, 0, "path", &path)) return env.Undefined();
  crl_err err;
  crl_err_clear(&err);
  auto mi = std::make_unique<crl_mount_info>();  // ~14 KiB: keep it off the stack
  int rc = crl_mount_get(path.c_str(), mi.get(), &err);
  if (rc < 0) return ThrowNative(env, err);
  if (rc == 0) return env.Undefined();
  Napi::Object o = Napi::Object::New(env);
  o.Set("mountId", Napi::Number::New(env, mi->mount_id));
  o.Set("parentId", Napi::Number::New(env, mi->parent_id));
  o.Set("major", Napi::Number::New(env, mi->major));
  o.Set("minor", Napi::Number::New(env, mi->minor));
  o.Set("root", Napi::String::New(env, mi->root));
  o.Set("mountPoint", Napi::String::New(env, mi->mount_point));
  o.Set("fsType", Napi::String::New(env, mi->fs_type));
  o.Set("source", Napi::String::New(env, mi->source));
  o.Set("options", Napi::String::New(env, mi->options));
  o.Set("superOptions", Napi::String::New(env, mi->super_options));
  o.Set("readOnly", Napi::Boolean::New(env, mi->read_only != 0));
  return o;
}

}  // namespace crl
