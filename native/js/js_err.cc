#include "js/js_err.h"

namespace crl {

namespace {

struct AddonData {
  Napi::FunctionReference error_class;
};

AddonData *Data(Napi::Env env) {
  AddonData *data = env.GetInstanceData<AddonData>();
  if (data == nullptr) {
    data = new AddonData();
    env.SetInstanceData<AddonData>(data);  // deleted by N-API when the env goes
  }
  return data;
}

}  // namespace

Napi::Value SetErrorClass(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction())
    return ThrowArgType(env, "setErrorClass: a class");
  Data(env)->error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

Napi::Value ThrowNative(Napi::Env env, const crl_err &err) {
  char message[CRL_ERR_OP_MAX + CRL_ERR_DETAIL_MAX + 160];
  crl_err_format(&err, message, sizeof message);
  const char *name = crl_errno_name(err.errnum);
  Napi::Object fields = Napi::Object::New(env);
  fields.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  fields.Set("errno", Napi::Number::New(env, err.errnum));
  fields.Set("op", Napi::String::New(env, err.op));
  fields.Set("detail", Napi::String::New(env, err.detail));

  AddonData *data = Data(env);
  if (!data->error_class.IsEmpty()) {
    Napi::Object e = data->error_class.New({Napi::String::New(env, message), fields});
    if (env.IsExceptionPending()) return env.Undefined();  // the constructor threw: keep that
    Napi::Error(env, e).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // No class registered (the addon used directly): a plain Error with the same fields.
  Napi::Error e = Napi::Error::New(env, message);
  Napi::Object o = e.Value();
  o.Set("name", Napi::String::New(env, "NativeError"));
  for (const char *key : {"code", "errno", "op", "detail"}) o.Set(key, fields.Get(key));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowArgType(Napi::Env env, const std::string &what) {
  Napi::TypeError e = Napi::TypeError::New(env, "invalid argument: expected " + what);
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

bool ArgString(const Napi::CallbackInfo &info, size_t i, const char *name, std::string *out) {
  if (info.Length() <= i || !info[i].IsString()) {
    ThrowArgType(info.Env(), std::string(name) + " (a string)");
    return false;
  }
  *out = info[i].As<Napi::String>().Utf8Value();
  if (out->find('\0') != std::string::npos) {
    ThrowArgType(info.Env(), std::string(name) + " without NUL characters");
    return false;
  }
  return true;
}

bool ArgOptString(const Napi::CallbackInfo &info, size_t i, const char *name, std::string *out,
                  bool *present) {
  *present = false;
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return true;
  if (!ArgString(info, i, name, out)) return false;
  *present = true;
  return true;
}

bool OptBool(const Napi::CallbackInfo &info, size_t i, const char *key, bool *out) {
  *out = false;
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return true;
  if (!info[i].IsObject()) {
    ThrowArgType(info.Env(), "an options object");
    return false;
  }
  Napi::Value v = info[i].As<Napi::Object>().Get(key);
  if (info.Env().IsExceptionPending()) return false;
  if (v.IsUndefined()) return true;
  if (!v.IsBoolean()) {
    ThrowArgType(info.Env(), std::string("options.") + key + " (a boolean)");
    return false;
  }
  *out = v.As<Napi::Boolean>().Value();
  return true;
}

Napi::Value NativeErrorValue(Napi::Env env, const crl_err &err) {
  // Built by ThrowNative, which leaves it pending: take it back.
  ThrowNative(env, err);
  return env.GetAndClearPendingException().Value();
}

}  // namespace crl
