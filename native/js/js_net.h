#ifndef CRL_JS_NET_H
#define CRL_JS_NET_H
#include <napi.h>
namespace crl {
// Only with CORRAL_WITH_NETWORK_ISOLATOR (native/js/js_net.cc).
Napi::Value ListLinks(const Napi::CallbackInfo &info);
Napi::Value NetApply(const Napi::CallbackInfo &info);
Napi::Value NetDeleteLinkGroup(const Napi::CallbackInfo &info);
Napi::Value NetFilters(const Napi::CallbackInfo &info);
Napi::Value NetQdiscs(const Napi::CallbackInfo &info);
Napi::Value NetTcpRtts(const Napi::CallbackInfo &info);
Napi::Value NetFreshSysctls(const Napi::CallbackInfo &info);
}  // namespace crl
#endif
