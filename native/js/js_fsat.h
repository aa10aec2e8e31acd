#ifndef CRL_JS_FSAT_H
#define CRL_JS_FSAT_H
#include <napi.h>
namespace crl {
Napi::Value LinkBeneath(const Napi::CallbackInfo &info);
}  // namespace crl
#endif
