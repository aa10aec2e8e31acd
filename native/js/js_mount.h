#ifndef CRL_JS_MOUNT_H
#define CRL_JS_MOUNT_H
#include <napi.h>
namespace crl {
Napi::Value BindMount(const Napi::CallbackInfo &info);
Napi::Value Unmount(const Napi::CallbackInfo &info);
Napi::Value GetMount(const Napi::CallbackInfo &info);
}  // namespace crl
#endif
