// The N-API side of the error contract (docs/architecture.md §4) and the argument readers every
// area uses. Only files in native/js/ include napi.h.
#ifndef CRL_JS_ERR_H
#define CRL_JS_ERR_H

#include <napi.h>

#include <string>

#include "core/err.h"

namespace crl {

// Remember the JS class NativeError errors are made with: new Class(message, {code, errno, op,
// detail}). Called once by lib/linux/native.ts through the exported `setErrorClass`.
Napi::Value SetErrorClass(const Napi::CallbackInfo &info);

// Throw the JS NativeError for `err`: `code` is the errno name ("ENOENT"), `errno` the number,
// `op` the operation, message "op: detail: strerror". Returns undefined, so glue code reads
// `return ThrowNative(env, err);`.
Napi::Value ThrowNative(Napi::Env env, const crl_err &err);

// The same NativeError as a value, not thrown: what a worker's callback is given.
Napi::Value NativeErrorValue(Napi::Env env, const crl_err &err);

// Throw a TypeError with code ERR_INVALID_ARG_TYPE (a caller bug, not an OS failure).
Napi::Value ThrowArgType(Napi::Env env, const std::string &what);

// Argument readers: false means a TypeError is already pending; return from the call.
bool ArgString(const Napi::CallbackInfo &info, size_t i, const char *name, std::string *out);
// undefined/null give `present = false`.
bool ArgOptString(const Napi::CallbackInfo &info, size_t i, const char *name, std::string *out,
                  bool *present);
// Optional options object at argument i; reads boolean `key` (false when absent).
bool OptBool(const Napi::CallbackInfo &info, size_t i, const char *key, bool *out);

}  // namespace crl

#endif  // CRL_JS_ERR_H
