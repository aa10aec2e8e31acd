// Links (network isolator build only): listLinks(netnsName?) -> [{index, name, up, mtu}].
#include "js/js_link.h"

#include <cstdlib>

#include "core/link.h"
#include "js/js_err.h"

namespace crl {

Napi::Value ListLinks(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string netns;
  bool in_netns;
  if (!ArgOptString(info, 0, "netns", &netns, &in_netns)) return env.Undefined();
  crl_err err;
  crl_err_clear(&err);
  crl_link_summary *links = nullptr;
  size_t count = 0;
  if (crl_link_list(in_netns ? netns.c_str() : nullptr, &links, &count, &err) < 0)
    return ThrowNative(env, err);
  Napi::Array out = Napi::Array::New(env, count);
  for (size_t i = 0; i < count; i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", Napi::Number::New(env, links[i].index));
    o.Set("name", Napi::String::New(env, links[i].name));
    o.Set("up", Napi::Boolean::New(env, links[i].up != 0));
    o.Set("mtu", Napi::Number::New(env, links[i].mtu));
    out.Set(static_cast<uint32_t>(i), o);
  }
  std::free(links);
  return out;
}

}  // namespace crl
