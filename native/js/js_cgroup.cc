// cgroup v1 notifications: cgroupEventListen(dir, file, args | undefined, callback) -> id,
// cgroupEventClose(id) -> boolean. callback(count) runs on the JS thread each time the kernel
// signals the eventfd.
//
// Waiting: the eventfd is watched by the event loop itself (a uv_poll handle, unref'd), so no
// call blocks and no thread is needed; the callback is made with an async context, as any I/O
// callback. Listeners belong to the main thread's environment (the agent uses no workers).
#include "js/js_cgroup.h"

#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <memory>
#include <unordered_map>

#include "core/cgroup.h"
#include "js/js_err.h"

namespace crl {

namespace {

struct Listener {
  uv_poll_t poll;
  int efd = -1;
  int cfd = -1;
  uint32_t id = 0;
  napi_env env = nullptr;
  Napi::FunctionReference callback;
  std::unique_ptr<Napi::AsyncContext> context;
};

std::unordered_map<uint32_t, Listener *> listeners;  // the JS thread only
uint32_t next_id = 1;

// The handle is closed: nothing refers to the listener any more.
void OnClosed(uv_handle_t *h) {
  delete static_cast<Listener *>(h->data);
}

void Stop(Listener *l) {
  uv_poll_stop(&l->poll);
  if (l->efd >= 0) close(l->efd);
  if (l->cfd >= 0) close(l->cfd);
  l->efd = l->cfd = -1;
  uv_close(reinterpret_cast<uv_handle_t *>(&l->poll), OnClosed);
}

void OnReadable(uv_poll_t *h, int status, int /*events*/) {
  Listener *l = static_cast<Listener *>(h->data);
  if (status < 0 || l->efd < 0) return;
  unsigned long long count = 0;
  crl_err err;
  crl_err_clear(&err);
  if (crl_eventfd_take(l->efd, &count, &err) <= 0) return;  // spurious wake-up, or gone
  Napi::Env env(l->env);
  Napi::HandleScope scope(env);
  l->callback.MakeCallback(env.Global(), {Napi::Number::New(env, static_cast<double>(count))},
                           *l->context);
}

}  // namespace

Napi::Value CgroupEventListen(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string dir, file, args;
  bool has_args;
  if (!ArgString(info, 0, "dir", &dir) || !ArgString(info, 1, "file", &file) ||
      !ArgOptString(info, 2, "args", &args, &has_args))
    return env.Undefined();
  if (info.Length() < 4 || !info[3].IsFunction()) return ThrowArgType(env, "callback (a function)");

  crl_err err;
  crl_err_clear(&err);
  int fds[2];
  if (crl_cgroup_event_open(dir.c_str(), file.c_str(), has_args ? args.c_str() : nullptr, fds,
                            &err) < 0)
    return ThrowNative(env, err);
  uv_loop_t *loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    close(fds[0]);
    close(fds[1]);
    crl_err_set(&err, EIO, "cgroup event", "no event loop");
    return ThrowNative(env, err);
  }
  auto *l = new Listener();
  l->efd = fds[0];
  l->cfd = fds[1];
  l->env = env;
  l->poll.data = l;
  int rc = uv_poll_init(loop, &l->poll, l->efd);
  if (rc < 0) {
    close(fds[0]);
    close(fds[1]);
    delete l;
    crl_err_set(&err, -rc, "cgroup event", "uv_poll_init");
    return ThrowNative(env, err);
  }
  rc = uv_poll_start(&l->poll, UV_READABLE, OnReadable);
  if (rc < 0) {
    Stop(l);
    crl_err_set(&err, -rc, "cgroup event", "uv_poll_start");
    return ThrowNative(env, err);
  }
  uv_unref(
      reinterpret_cast<uv_handle_t *>(&l->poll));  // a listener alone does not keep Node running
  l->callback = Napi::Persistent(info[3].As<Napi::Function>());
  l->context = std::make_unique<Napi::AsyncContext>(env, "corral:cgroupEvent");
  l->id = next_id++;
  listeners[l->id] = l;
  return Napi::Number::New(env, l->id);
}

Napi::Value CgroupEventClose(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowArgType(env, "id (a number)");
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  auto it = listeners.find(id);
  if (it == listeners.end()) return Napi::Boolean::New(env, false);
  Listener *l = it->second;
  listeners.erase(it);
  Stop(l);  // deleted once the loop has closed the handle
  return Napi::Boolean::New(env, true);
}

}  // namespace crl
