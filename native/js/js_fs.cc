// Files: openBeneath(root, path, {directory, walk}) -> fd (the caller closes it).
#include "js/js_fs.h"

#include "core/fs.h"
#include "js/js_err.h"

namespace crl {

Napi::Value OpenBeneath(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string root, path;
  bool directory, walk;
  if (!ArgString(info, 0, "root", &root) || !ArgString(info, 1, "path", &path) ||
      !OptBool(info, 2, "directory", &directory) || !OptBool(info, 2, "walk", &walk))
    return env.Undefined();
  crl_err err;
  crl_err_clear(&err);
  int flags = (directory ? CRL_BENEATH_DIRECTORY : 0) | (walk ? CRL_BENEATH_WALK : 0);
  int fd = crl_open_beneath(root.c_str(), path.c_str(), flags, &err);
  if (fd < 0) return ThrowNative(env, err);
  return Napi::Number::New(env, fd);
}

}  // namespace crl
