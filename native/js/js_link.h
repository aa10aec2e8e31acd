#ifndef CRL_JS_LINK_H
#define CRL_JS_LINK_H
#include <napi.h>
namespace crl {
// Only with CORRAL_WITH_NETWORK_ISOLATOR.
Napi::Value ListLinks(const Napi::CallbackInfo &info);
}  // namespace crl
#endif
