// linkBeneath(source, root, dir, name) -> undefined: a hard link made below a directory another
// user controls, following no symlink there (core/fsat.h).
#include "js/js_fsat.h"

#include "core/fsat.h"
#include "js/js_err.h"

namespace crl {

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

}  // namespace crl
