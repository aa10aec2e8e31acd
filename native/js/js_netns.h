#ifndef CRL_JS_NETNS_H
#define CRL_JS_NETNS_H
#include <napi.h>
namespace crl {
Napi::Value CreateNetns(const Napi::CallbackInfo &info);
Napi::Value RemoveNetns(const Napi::CallbackInfo &info);
Napi::Value GetNetns(const Napi::CallbackInfo &info);
}  // namespace crl
#endif
