// Network configuration (network isolator build only):
//   listLinks({netns?: name, pid?: number}) -> [{index, name, kind, up, loopback, mtu, group, mac, stats}]
//   netApply({pid?, netns?, host?: {pid?, netns?}, steps: Step[]}, callback?) -> undefined; throws NativeError
//     naming the failed step, or with a callback runs on a worker thread and calls back (err | null)
//   netDeleteLinkGroup(group, callback(err | null)) -> undefined (runs on a worker thread)
//   netFilters(link, parent, {pid?, netns?}) -> [{prio, protocol, handle}]
//   netFreshSysctls(paths) -> [value | null]: /proc/sys values as a brand-new network namespace has them
//   netTcpRtts({pid?, netns?}) -> [rtt microseconds of each IPv4 TCP socket with one]
//   netQdiscs(link, {pid?, netns?}) -> [{kind, handle, parent, bytes, packets, drops, overlimits, qlen, backlog, requeues}]
// Steps are plain objects; see lib/linux/net.ts for their shape.
#include "js/js_net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/netcfg.h"
#include "core/netns.h"
#include "js/js_err.h"

namespace crl {

namespace {

// Open the network namespace of `pid` (/proc/PID/ns/net) or of the named netns; -1 if neither
// is given; < -1 after filling err.
int OpenNs(const Napi::Object &o, crl_err *err) {
  if (o.Has("pid") && o.Get("pid").IsNumber()) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/ns/net", o.Get("pid").As<Napi::Number>().Int32Value());
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return crl_err_set(err, errno, "open", "%s", path) - 1;
    return fd;
  }
  if (o.Has("netns") && o.Get("netns").IsString()) {
    std::string name = o.Get("netns").As<Napi::String>().Utf8Value();
    int fd = crl_netns_open(name.c_str(), err);
    return fd < 0 ? fd - 1 : fd;
  }
  return -1;
}

bool ReadName(Napi::Env env, const Napi::Object &o, const char *key, char *out, bool required) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (!required) return true;
    ThrowArgType(env, std::string("step.") + key + ": a link name");
    return false;
  }
  if (!v.IsString()) {
    ThrowArgType(env, std::string("step.") + key + ": a string");
    return false;
  }
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.empty() || s.size() >= CRL_IFNAME_MAX) {
    ThrowArgType(env, std::string("step.") + key + ": a link name of 1 to 15 characters");
    return false;
  }
  std::memcpy(out, s.c_str(), s.size() + 1);
  return true;
}

double Num(const Napi::Object &o, const char *key, double dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : dflt;
}

bool Flag(const Napi::Object &o, const char *key) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

bool ReadMac(Napi::Env env, const Napi::Object &o, const char *key, unsigned char *mac, int *has) {
  Napi::Value v = o.Get(key);
  *has = 0;
  if (v.IsUndefined() || v.IsNull()) return true;
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  unsigned b[6];
  if (std::sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) {
    ThrowArgType(env, std::string("step.") + key + ": a MAC address aa:bb:cc:dd:ee:ff");
    return false;
  }
  for (int i = 0; i < 6; i++) mac[i] = static_cast<unsigned char>(b[i]);
  *has = 1;
  return true;
}

bool ReadIp(Napi::Env env, const Napi::Object &o, const char *key, uint32_t *out) {
  Napi::Value v = o.Get(key);
  *out = 0;
  if (v.IsUndefined() || v.IsNull()) return true;
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  struct in_addr a;
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) {
    ThrowArgType(env, std::string("step.") + key + ": an IPv4 address");
    return false;
  }
  *out = a.s_addr;
  return true;
}

bool ReadStep(Napi::Env env, const Napi::Object &o, crl_step *s) {
  std::memset(s, 0, sizeof *s);
  std::string kind = o.Get("kind").IsString() ? o.Get("kind").As<Napi::String>().Utf8Value() : "";
  struct { const char *name; int kind; } kinds[] = {
      {"vethAdd", CRL_STEP_VETH_ADD}, {"linkSet", CRL_STEP_LINK_SET}, {"linkDelete", CRL_STEP_LINK_DEL},
      {"addrAdd", CRL_STEP_ADDR_ADD}, {"routeAdd", CRL_STEP_ROUTE_ADD}, {"qdiscAdd", CRL_STEP_QDISC_ADD},
      {"qdiscDelete", CRL_STEP_QDISC_DEL}, {"classAdd", CRL_STEP_CLASS_ADD}, {"filterAdd", CRL_STEP_FILTER_ADD},
      {"filtersDelete", CRL_STEP_FILTERS_DEL}, {"sysctl", CRL_STEP_SYSCTL}};
  for (auto &k : kinds)
    if (kind == k.name) s->kind = k.kind;
  if (!s->kind) {
    ThrowArgType(env, "step.kind: unknown '" + kind + "'");
    return false;
  }
  s->in_netns = Flag(o, "inNetns");
  s->ignore_exists = Flag(o, "ignoreExists");
  s->ignore_missing = Flag(o, "ignoreMissing");
  s->up = o.Get("up").IsBoolean() ? (o.Get("up").As<Napi::Boolean>().Value() ? 1 : 0) : -1;
  s->group = static_cast<int64_t>(Num(o, "group", -1));
  s->mtu = static_cast<uint32_t>(Num(o, "mtu", 0));
  s->peer_in_netns = Flag(o, "peerInNetns");
  if (o.Get("alias").IsString()) {
    std::string a = o.Get("alias").As<Napi::String>().Utf8Value();
    if (a.empty() || a.size() >= sizeof s->alias) {
      ThrowArgType(env, "step.alias: 1 to 127 characters");
      return false;
    }
    std::memcpy(s->alias, a.c_str(), a.size() + 1);
  }
  if (s->kind == CRL_STEP_SYSCTL) {
    std::string path = o.Get("path").IsString() ? o.Get("path").As<Napi::String>().Utf8Value() : "";
    std::string value = o.Get("value").IsString() ? o.Get("value").As<Napi::String>().Utf8Value() : "";
    if (path.empty() || path.size() >= sizeof s->path || value.size() >= sizeof s->value) {
      ThrowArgType(env, "step: sysctl needs path and value");
      return false;
    }
    std::memcpy(s->path, path.c_str(), path.size() + 1);
    std::memcpy(s->value, value.c_str(), value.size() + 1);
    return true;
  }
  if (!ReadName(env, o, "link", s->link, true)) return false;
  if (!ReadName(env, o, "peer", s->peer, s->kind == CRL_STEP_VETH_ADD)) return false;
  if (!ReadMac(env, o, "mac", s->mac, &s->has_mac)) return false;
  if (!ReadMac(env, o, "peerMac", s->peer_mac, &s->has_peer_mac)) return false;
  if (!ReadIp(env, o, "address", &s->addr)) return false;
  if (!ReadIp(env, o, "gateway", &s->gateway)) return false;
  s->prefix = static_cast<uint8_t>(Num(o, "prefix", 32));
  if (o.Get("qdiscKind").IsString()) {
    std::string q = o.Get("qdiscKind").As<Napi::String>().Utf8Value();
    if (q.size() >= sizeof s->qdisc_kind) {
      ThrowArgType(env, "step.qdiscKind: too long");
      return false;
    }
    std::memcpy(s->qdisc_kind, q.c_str(), q.size() + 1);
  }
  s->parent = static_cast<uint32_t>(Num(o, "parent", 0));
  s->handle = static_cast<uint32_t>(Num(o, "handle", 0));
  s->prio = static_cast<uint16_t>(Num(o, "prio", 0));
  s->protocol = static_cast<uint16_t>(Num(o, "protocol", 0));
  s->htb_default = static_cast<uint32_t>(Num(o, "htbDefault", 0));
  s->rate = static_cast<uint64_t>(Num(o, "rate", 0));
  s->ceil = static_cast<uint64_t>(Num(o, "ceil", 0));
  s->burst = static_cast<uint32_t>(Num(o, "burst", 0));
  s->limit = static_cast<uint32_t>(Num(o, "limit", 0));
  s->terminal = Flag(o, "terminal");
  s->skip_missing = Flag(o, "skipMissingTargets");
  s->classid = static_cast<uint32_t>(Num(o, "classid", 0));
  Napi::Value keys = o.Get("keys");
  if (keys.IsArray()) {
    Napi::Array a = keys.As<Napi::Array>();
    if (a.Length() > CRL_U32_KEYS_MAX) {
      ThrowArgType(env, "step.keys: at most 8");
      return false;
    }
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Object k = a.Get(i).As<Napi::Object>();
      s->keys[i].val = static_cast<uint32_t>(Num(k, "val", 0));
      s->keys[i].mask = static_cast<uint32_t>(Num(k, "mask", 0));
      s->keys[i].off = static_cast<int32_t>(Num(k, "off", 0));
    }
    s->nkeys = static_cast<int>(a.Length());
  }
  Napi::Value acts = o.Get("actions");
  if (acts.IsArray()) {
    Napi::Array a = acts.As<Napi::Array>();
    if (a.Length() > CRL_ACTIONS_MAX) {
      ThrowArgType(env, "step.actions: at most 32");
      return false;
    }
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Object x = a.Get(i).As<Napi::Object>();
      std::string k = x.Get("kind").IsString() ? x.Get("kind").As<Napi::String>().Utf8Value() : "";
      s->actions[i].kind = k == "redirect" ? CRL_ACT_REDIRECT : k == "mirror" ? CRL_ACT_MIRROR : 0;
      if (!s->actions[i].kind) {
        ThrowArgType(env, "step.actions[].kind: redirect or mirror");
        return false;
      }
      if (!ReadName(env, x, "dev", s->actions[i].dev, true)) return false;
      s->actions[i].control = static_cast<int>(Num(x, "control", 0));
    }
    s->nactions = static_cast<int>(a.Length());
  }
  return true;
}

std::string MacString(const unsigned char *m) {
  char b[18];
  std::snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}

// Runs `work` on a libuv pool thread (never setns there: namespace steps get a private thread
// of their own in the core) and calls back (err | null) on the JS thread.
class CallWorker : public Napi::AsyncWorker {
 public:
  CallWorker(Napi::Function cb, std::function<int(crl_err *)> work) : Napi::AsyncWorker(cb), work_(std::move(work)) {
    crl_err_clear(&err_);
  }
  void Execute() override { rc_ = work_(&err_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (rc_ < 0) {
      // Build the NativeError without throwing: ThrowNative leaves it pending; take it back.
      ThrowNative(env, err_);
      Napi::Error e = env.GetAndClearPendingException();
      Callback().Call({e.Value()});
      return;
    }
    Callback().Call({env.Null()});
  }

 private:
  std::function<int(crl_err *)> work_;
  int rc_ = 0;
  crl_err err_;
};

// Run `dump(nsfd, &items, &count, &err)` in the namespace of the options object at argument
// `arg` (none: the caller's). On success *items/*count are the malloc'd results; false means an
// exception is pending.
template <typename T, typename F>
bool DumpIn(const Napi::CallbackInfo &info, size_t arg, F dump, T **items, size_t *count) {
  Napi::Env env = info.Env();
  crl_err err;
  crl_err_clear(&err);
  Napi::Object opts = info.Length() > arg && info[arg].IsObject() ? info[arg].As<Napi::Object>() : Napi::Object::New(env);
  int nsfd = OpenNs(opts, &err);
  if (nsfd < -1) {
    ThrowNative(env, err);
    return false;
  }
  int rc = dump(nsfd, items, count, &err);
  if (nsfd >= 0) close(nsfd);
  if (rc < 0) {
    ThrowNative(env, err);
    return false;
  }
  return true;
}

}  // namespace

Napi::Value ListLinks(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  crl_link_info *links = nullptr;
  size_t count = 0;
  if (!DumpIn(info, 0, crl_net_links, &links, &count)) return env.Undefined();
  Napi::Array out = Napi::Array::New(env, count);
  for (size_t i = 0; i < count; i++) {
    const crl_link_info &l = links[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", l.index);
    o.Set("name", l.name);
    o.Set("kind", l.kind);
    o.Set("up", l.up != 0);
    o.Set("loopback", l.loopback != 0);
    o.Set("mtu", l.mtu);
    o.Set("group", l.group);
    o.Set("alias", l.alias);
    o.Set("mac", MacString(l.mac));
    Napi::Object st = Napi::Object::New(env);
    st.Set("rxPackets", static_cast<double>(l.rx_packets));
    st.Set("rxBytes", static_cast<double>(l.rx_bytes));
    st.Set("rxErrors", static_cast<double>(l.rx_errors));
    st.Set("rxDropped", static_cast<double>(l.rx_dropped));
    st.Set("txPackets", static_cast<double>(l.tx_packets));
    st.Set("txBytes", static_cast<double>(l.tx_bytes));
    st.Set("txErrors", static_cast<double>(l.tx_errors));
    st.Set("txDropped", static_cast<double>(l.tx_dropped));
    o.Set("stats", st);
    out.Set(static_cast<uint32_t>(i), o);
  }
  std::free(links);
  return out;
}

Napi::Value NetApply(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) return ThrowArgType(env, "netApply: {pid?, steps}");
  Napi::Object spec = info[0].As<Napi::Object>();
  Napi::Value sv = spec.Get("steps");
  if (!sv.IsArray()) return ThrowArgType(env, "netApply: steps must be an array");
  Napi::Array arr = sv.As<Napi::Array>();
  std::vector<crl_step> steps(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    if (!arr.Get(i).IsObject()) return ThrowArgType(env, "netApply: steps[" + std::to_string(i) + "] must be an object");
    if (!ReadStep(env, arr.Get(i).As<Napi::Object>(), &steps[i])) return env.Undefined();
  }
  crl_err err;
  crl_err_clear(&err);
  int host_nsfd = -1;
  if (spec.Get("host").IsObject()) {
    host_nsfd = OpenNs(spec.Get("host").As<Napi::Object>(), &err);
    if (host_nsfd < -1) return ThrowNative(env, err);
  }
  int nsfd = OpenNs(spec, &err);
  if (nsfd < -1) {
    if (host_nsfd >= 0) close(host_nsfd);
    return ThrowNative(env, err);
  }
  auto work = [host_nsfd, nsfd, steps = std::move(steps)](crl_err *e) {
    size_t failed = 0;
    int rc = crl_net_apply(host_nsfd, nsfd, steps.data(), steps.size(), &failed, e);
    if (nsfd >= 0) close(nsfd);
    if (host_nsfd >= 0) close(host_nsfd);
    if (rc < 0) {
      // Name the step: "op: step N: detail".
      std::string detail = "step " + std::to_string(failed) + ": " + e->detail;
      std::snprintf(e->detail, sizeof e->detail, "%s", detail.c_str());
    }
    return rc;
  };
  if (info.Length() > 1 && info[1].IsFunction()) {
    (new CallWorker(info[1].As<Napi::Function>(), std::move(work)))->Queue();
    return env.Undefined();
  }
  if (work(&err) < 0) return ThrowNative(env, err);
  return env.Undefined();
}

Napi::Value NetDeleteLinkGroup(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction())
    return ThrowArgType(env, "netDeleteLinkGroup(group, callback)");
  uint32_t group = info[0].As<Napi::Number>().Uint32Value();
  (new CallWorker(info[1].As<Napi::Function>(), [group](crl_err *e) { return crl_net_delete_group(group, e); }))->Queue();
  return env.Undefined();
}

Napi::Value NetFilters(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string link;
  if (!ArgString(info, 0, "link", &link)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsNumber()) return ThrowArgType(env, "netFilters: parent must be a number");
  uint32_t parent = info[1].As<Napi::Number>().Uint32Value();
  crl_filter_id *f = nullptr;
  size_t n = 0;
  auto dump = [&](int nsfd, crl_filter_id **o, size_t *c, crl_err *e) { return crl_net_filters(nsfd, link.c_str(), parent, o, c, e); };
  if (!DumpIn(info, 2, dump, &f, &n)) return env.Undefined();
  Napi::Array out = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("prio", f[i].prio);
    o.Set("protocol", f[i].protocol);
    o.Set("handle", f[i].handle);
    out.Set(static_cast<uint32_t>(i), o);
  }
  std::free(f);
  return out;
}

Napi::Value NetQdiscs(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string link;
  if (!ArgString(info, 0, "link", &link)) return env.Undefined();
  crl_qdisc_stats *q = nullptr;
  size_t n = 0;
  auto dump = [&](int nsfd, crl_qdisc_stats **o, size_t *c, crl_err *e) { return crl_net_qdiscs(nsfd, link.c_str(), o, c, e); };
  if (!DumpIn(info, 1, dump, &q, &n)) return env.Undefined();
  Napi::Array out = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("kind", q[i].kind);
    o.Set("handle", q[i].handle);
    o.Set("parent", q[i].parent);
    o.Set("bytes", static_cast<double>(q[i].bytes));
    o.Set("packets", q[i].packets);
    o.Set("drops", q[i].drops);
    o.Set("overlimits", q[i].overlimits);
    o.Set("qlen", q[i].qlen);
    o.Set("backlog", q[i].backlog);
    o.Set("requeues", q[i].requeues);
    out.Set(static_cast<uint32_t>(i), o);
  }
  std::free(q);
  return out;
}

Napi::Value NetFreshSysctls(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) return ThrowArgType(env, "netFreshSysctls(paths)");
  Napi::Array a = info[0].As<Napi::Array>();
  std::vector<std::string> paths(a.Length());
  std::vector<const char *> ptrs(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    if (!a.Get(i).IsString()) return ThrowArgType(env, "netFreshSysctls: paths must be strings");
    paths[i] = a.Get(i).As<Napi::String>().Utf8Value();
    ptrs[i] = paths[i].c_str();
  }
  struct Value {
    char text[128];
  };
  std::vector<Value> values(a.Length());
  crl_err err;
  crl_err_clear(&err);
  if (crl_net_fresh_sysctls(ptrs.data(), ptrs.size(), reinterpret_cast<char(*)[128]>(values.data()), &err) < 0)
    return ThrowNative(env, err);
  Napi::Array out = Napi::Array::New(env, a.Length());
  for (uint32_t i = 0; i < a.Length(); i++)
    out.Set(i, values[i].text[0] ? Napi::Value(Napi::String::New(env, values[i].text)) : env.Null());
  return out;
}

Napi::Value NetTcpRtts(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  uint32_t *rtts = nullptr;
  size_t n = 0;
  if (!DumpIn(info, 0, crl_net_tcp_rtts, &rtts, &n)) return env.Undefined();
  Napi::Array out = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) out.Set(static_cast<uint32_t>(i), rtts[i]);
  std::free(rtts);
  return out;
}

}  // namespace crl
