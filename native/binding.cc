// Module init: the export table and nothing else. Each function lives in native/js/js_<area>.cc.
#include <napi.h>

#include "js/js_cgroup.h"
#include "js/js_err.h"
#include "js/js_fs.h"
#include "js/js_netns.h"
#ifdef CORRAL_WITH_NETWORK_ISOLATOR
#include "js/js_net.h"
#endif

#ifdef CORRAL_WITH_NETWORK_ISOLATOR
#define CRL_HAS_NETWORK_ISOLATOR true
#else
#define CRL_HAS_NETWORK_ISOLATOR false
#endif

static void Export(Napi::Env env, Napi::Object exports, const char *name,
                   Napi::Function::Callback fn) {
  exports.Set(name, Napi::Function::New(env, fn, name));
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Object features = Napi::Object::New(env);
  features.Set("networkIsolator", Napi::Boolean::New(env, CRL_HAS_NETWORK_ISOLATOR));
  exports.Set("features", features);

  Export(env, exports, "setErrorClass", crl::SetErrorClass);

  Export(env, exports, "createNetns", crl::CreateNetns);
  Export(env, exports, "removeNetns", crl::RemoveNetns);
  Export(env, exports, "getNetns", crl::GetNetns);

  Export(env, exports, "linkBeneath", crl::LinkBeneath);
  Export(env, exports, "makeWhiteout", crl::MakeWhiteout);
  Export(env, exports, "getXattr", crl::GetXattr);
  Export(env, exports, "setXattr", crl::SetXattr);
  Export(env, exports, "openBeneath", crl::OpenBeneath);

  Export(env, exports, "cgroupEventListen", crl::CgroupEventListen);
  Export(env, exports, "cgroupEventClose", crl::CgroupEventClose);

#ifdef CORRAL_WITH_NETWORK_ISOLATOR
  Export(env, exports, "listLinks", crl::ListLinks);
  Export(env, exports, "netApply", crl::NetApply);
  Export(env, exports, "netDeleteLinkGroup", crl::NetDeleteLinkGroup);
  Export(env, exports, "netFilters", crl::NetFilters);
  Export(env, exports, "netQdiscs", crl::NetQdiscs);
  Export(env, exports, "netTcpRtts", crl::NetTcpRtts);
  Export(env, exports, "netFreshSysctls", crl::NetFreshSysctls);
#endif
  return exports;
}

NODE_API_MODULE(corral_native, Init)
