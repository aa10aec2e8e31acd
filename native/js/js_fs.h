#ifndef CRL_JS_FS_H
#define CRL_JS_FS_H
#include <napi.h>
namespace crl {
Napi::Value OpenBeneath(const Napi::CallbackInfo &info);
Napi::Value LinkBeneath(const Napi::CallbackInfo &info);
Napi::Value MakeWhiteout(const Napi::CallbackInfo &info);
Napi::Value SetXattr(const Napi::CallbackInfo &info);
Napi::Value GetXattr(const Napi::CallbackInfo &info);
}  // namespace crl
#endif
