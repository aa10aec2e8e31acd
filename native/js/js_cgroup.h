#ifndef CRL_JS_CGROUP_H
#define CRL_JS_CGROUP_H
#include <napi.h>
namespace crl {
Napi::Value CgroupEventListen(const Napi::CallbackInfo &info);
Napi::Value CgroupEventClose(const Napi::CallbackInfo &info);
}  // namespace crl
#endif
