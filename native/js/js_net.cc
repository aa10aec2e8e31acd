// Network configuration (network isolator build only):
//   listLinks({netns?: name, pid?: number}) -> [{index, name, kind, up, loopback, mtu, group, mac,
//   stats}] netApply({pid?, netns?, host?: {pid?, netns?}, steps: Step[]}, callback?) -> undefined;
//   throws NativeError
//     naming the failed step, or with a callback runs on a worker thread and calls back (err |
//     null)
//   netDeleteLinkGroup(group, callback(err | null)) -> undefined (runs on a worker thread)
//   netFilters(link, parent, {pid?, netns?}) -> [{prio, protocol, handle}]
//   netFreshSysctls(paths) -> [value | null]: /proc/sys values as a brand-new network namespace has
//   them netTcpRtts({pid?, netns?}, callback?) -> [rtt microseconds of each IPv4 TCP socket with
//   one] netQdiscs(link, {pid?, netns?}, callback?) -> [{kind, handle, parent, bytes, packets,
//   drops, overlimits, qlen, backlog, requeues}] (netQdiscs and netTcpRtts with a callback: on a
//   worker thread, callback(err | null, results))
// Steps come as one buffer written by lib/linux/net_encode.ts (their shape:
// lib/linux/net_types.ts).
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
    std::snprintf(path, sizeof path, "/proc/%d/ns/net",
                  o.Get("pid").As<Napi::Number>().Int32Value());
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

// ---- steps, as lib/linux/net_encode.ts writes them (its tags and kind codes are these) ----

enum FieldTag {
  F_LINK = 1,
  F_PEER = 2,
  F_ALIAS = 3,
  F_QDISC_KIND = 4,
  F_PATH = 5,
  F_VALUE = 6,
  F_MAC = 7,
  F_PEER_MAC = 8,
  F_ADDRESS = 9,
  F_GATEWAY = 10,
  F_IN_NETNS = 20,
  F_IGNORE_EXISTS = 21,
  F_IGNORE_MISSING = 22,
  F_PEER_IN_NETNS = 23,
  F_TERMINAL = 24,
  F_SKIP_MISSING = 25,
  F_UP = 26,
  F_GROUP = 40,
  F_MTU = 41,
  F_PREFIX = 42,
  F_PARENT = 43,
  F_HANDLE = 44,
  F_PRIO = 45,
  F_PROTOCOL = 46,
  F_HTB_DEFAULT = 47,
  F_RATE = 48,
  F_CEIL = 49,
  F_BURST = 50,
  F_LIMIT = 51,
  F_CLASSID = 52,
  F_KEYS = 60,
  F_ACTIONS = 61
};

// Reads the buffer; every read checks its bounds (a short buffer is a bad argument, not a crash).
class StepReader {
 public:
  StepReader(const uint8_t *p, size_t n) : p_(p), n_(n) {}
  bool U8(uint8_t *v) {
    if (i_ + 1 > n_) return false;
    *v = p_[i_++];
    return true;
  }
  bool U32(uint32_t *v) {
    if (i_ + 4 > n_) return false;
    std::memcpy(v, p_ + i_, 4);  // little-endian hosts only (x86-64, aarch64)
    i_ += 4;
    return true;
  }
  bool F64(double *v) {
    if (i_ + 8 > n_) return false;
    std::memcpy(v, p_ + i_, 8);
    i_ += 8;
    return true;
  }
  bool Str(std::string *v) {
    if (i_ + 2 > n_) return false;
    uint16_t len;
    std::memcpy(&len, p_ + i_, 2);
    if (i_ + 2 + len > n_) return false;
    v->assign(reinterpret_cast<const char *>(p_ + i_ + 2), len);
    i_ += 2 + len;
    return true;
  }
  bool AtEnd() const {
    return i_ == n_;
  }

 private:
  const uint8_t *p_;
  size_t n_;
  size_t i_ = 0;
};

bool CopyName(Napi::Env env, const char *key, const std::string &v, char *out) {
  if (v.empty() || v.size() >= CRL_IFNAME_MAX) {
    ThrowArgType(env, std::string("step.") + key + ": a link name of 1 to 15 characters");
    return false;
  }
  std::memcpy(out, v.c_str(), v.size() + 1);
  return true;
}

bool ParseMac(Napi::Env env, const char *key, const std::string &v, unsigned char *mac) {
  unsigned b[6];
  if (std::sscanf(v.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) !=
      6) {
    ThrowArgType(env, std::string("step.") + key + ": a MAC address aa:bb:cc:dd:ee:ff");
    return false;
  }
  for (int i = 0; i < 6; i++) mac[i] = static_cast<unsigned char>(b[i]);
  return true;
}

bool ParseIp(Napi::Env env, const char *key, const std::string &v, uint32_t *out) {
  struct in_addr a;
  if (inet_pton(AF_INET, v.c_str(), &a) != 1) {
    ThrowArgType(env, std::string("step.") + key + ": an IPv4 address");
    return false;
  }
  *out = a.s_addr;
  return true;
}

bool Truncated(Napi::Env env) {
  ThrowArgType(env,
               "netApply: steps as lib/linux/net_encode.ts writes them (the buffer ends early)");
  return false;
}

// One step's fields; false: an exception is pending.
bool DecodeStep(Napi::Env env, StepReader *r, crl_step *s) {
  uint8_t kind, nfields;
  std::memset(s, 0, sizeof *s);
  s->up = -1;
  s->group = -1;
  s->prefix = 32;
  if (!r->U8(&kind) || !r->U8(&nfields)) return Truncated(env);
  if (kind < CRL_STEP_VETH_ADD || kind > CRL_STEP_SYSCTL) {
    ThrowArgType(env, "step.kind: unknown code " + std::to_string(kind));
    return false;
  }
  s->kind = kind;
  bool has_link = false, has_peer = false, has_path = false;
  std::string str;
  for (unsigned f = 0; f < nfields; f++) {
    uint8_t tag, b;
    double d;
    if (!r->U8(&tag)) return Truncated(env);
    if (tag < 20) {
      if (!r->Str(&str)) return Truncated(env);
      switch (tag) {
        case F_LINK:
          if (!CopyName(env, "link", str, s->link)) return false;
          has_link = true;
          break;
        case F_PEER:
          if (!CopyName(env, "peer", str, s->peer)) return false;
          has_peer = true;
          break;
        case F_ALIAS:
          if (str.empty() || str.size() >= sizeof s->alias) {
            ThrowArgType(env, "step.alias: 1 to 127 characters");
            return false;
          }
          std::memcpy(s->alias, str.c_str(), str.size() + 1);
          break;
        case F_QDISC_KIND:
          if (str.size() >= sizeof s->qdisc_kind) {
            ThrowArgType(env, "step.qdiscKind: too long");
            return false;
          }
          std::memcpy(s->qdisc_kind, str.c_str(), str.size() + 1);
          break;
        case F_PATH:
        case F_VALUE: {
          char *out = tag == F_PATH ? s->path : s->value;
          size_t cap = tag == F_PATH ? sizeof s->path : sizeof s->value;
          if (str.size() >= cap) {
            ThrowArgType(env, "step: sysctl needs path and value");
            return false;
          }
          std::memcpy(out, str.c_str(), str.size() + 1);
          if (tag == F_PATH) has_path = !str.empty();
          break;
        }
        case F_MAC:
          if (!ParseMac(env, "mac", str, s->mac)) return false;
          s->has_mac = 1;
          break;
        case F_PEER_MAC:
          if (!ParseMac(env, "peerMac", str, s->peer_mac)) return false;
          s->has_peer_mac = 1;
          break;
        case F_ADDRESS:
          if (!ParseIp(env, "address", str, &s->addr)) return false;
          break;
        case F_GATEWAY:
          if (!ParseIp(env, "gateway", str, &s->gateway)) return false;
          break;
        default:
          return Truncated(env);
      }
    } else if (tag < 40) {
      if (!r->U8(&b)) return Truncated(env);
      switch (tag) {
        case F_IN_NETNS:
          s->in_netns = b;
          break;
        case F_IGNORE_EXISTS:
          s->ignore_exists = b;
          break;
        case F_IGNORE_MISSING:
          s->ignore_missing = b;
          break;
        case F_PEER_IN_NETNS:
          s->peer_in_netns = b;
          break;
        case F_TERMINAL:
          s->terminal = b;
          break;
        case F_SKIP_MISSING:
          s->skip_missing = b;
          break;
        case F_UP:
          s->up = b;
          break;
        default:
          return Truncated(env);
      }
    } else if (tag < 60) {
      if (!r->F64(&d)) return Truncated(env);
      switch (tag) {
        case F_GROUP:
          s->group = static_cast<int64_t>(d);
          break;
        case F_MTU:
          s->mtu = static_cast<uint32_t>(d);
          break;
        case F_PREFIX:
          s->prefix = static_cast<uint8_t>(d);
          break;
        case F_PARENT:
          s->parent = static_cast<uint32_t>(d);
          break;
        case F_HANDLE:
          s->handle = static_cast<uint32_t>(d);
          break;
        case F_PRIO:
          s->prio = static_cast<uint16_t>(d);
          break;
        case F_PROTOCOL:
          s->protocol = static_cast<uint16_t>(d);
          break;
        case F_HTB_DEFAULT:
          s->htb_default = static_cast<uint32_t>(d);
          break;
        case F_RATE:
          s->rate = static_cast<uint64_t>(d);
          break;
        case F_CEIL:
          s->ceil = static_cast<uint64_t>(d);
          break;
        case F_BURST:
          s->burst = static_cast<uint32_t>(d);
          break;
        case F_LIMIT:
          s->limit = static_cast<uint32_t>(d);
          break;
        case F_CLASSID:
          s->classid = static_cast<uint32_t>(d);
          break;
        default:
          return Truncated(env);
      }
    } else if (tag == F_KEYS) {
      uint8_t n;
      if (!r->U8(&n)) return Truncated(env);
      if (n > CRL_U32_KEYS_MAX) {
        ThrowArgType(env, "step.keys: at most 8");
        return false;
      }
      for (unsigned i = 0; i < n; i++) {
        double val, mask, off;
        if (!r->F64(&val) || !r->F64(&mask) || !r->F64(&off)) return Truncated(env);
        s->keys[i].val = static_cast<uint32_t>(val);
        s->keys[i].mask = static_cast<uint32_t>(mask);
        s->keys[i].off = static_cast<int32_t>(off);
      }
      s->nkeys = n;
    } else if (tag == F_ACTIONS) {
      uint8_t n;
      if (!r->U8(&n)) return Truncated(env);
      if (n > CRL_ACTIONS_MAX) {
        ThrowArgType(env, "step.actions: at most 32");
        return false;
      }
      for (unsigned i = 0; i < n; i++) {
        uint8_t k;
        double control;
        if (!r->U8(&k) || !r->Str(&str)) return Truncated(env);
        if (k != CRL_ACT_REDIRECT && k != CRL_ACT_MIRROR) {
          ThrowArgType(env, "step.actions[].kind: redirect or mirror");
          return false;
        }
        s->actions[i].kind = k;
        if (!CopyName(env, "dev", str, s->actions[i].dev)) return false;
        if (!r->F64(&control)) return Truncated(env);
        s->actions[i].control = static_cast<int>(control);
      }
      s->nactions = n;
    } else {
      return Truncated(env);
    }
  }
  if (s->kind == CRL_STEP_SYSCTL) {
    if (!has_path) {
      ThrowArgType(env, "step: sysctl needs path and value");
      return false;
    }
    return true;
  }
  if (!has_link) {
    ThrowArgType(env, "step.link: a link name");
    return false;
  }
  if (s->kind == CRL_STEP_VETH_ADD && !has_peer) {
    ThrowArgType(env, "step.peer: a link name");
    return false;
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
  CallWorker(Napi::Function cb, std::function<int(crl_err *)> work)
      : Napi::AsyncWorker(cb), work_(std::move(work)) {
    crl_err_clear(&err_);
  }
  void Execute() override {
    rc_ = work_(&err_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (rc_ < 0) {
      Callback().Call({NativeErrorValue(env, err_)});
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
  Napi::Object opts = info.Length() > arg && info[arg].IsObject() ? info[arg].As<Napi::Object>()
                                                                  : Napi::Object::New(env);
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

// A dump on a libuv pool thread (the namespace part on a private thread in the core), its
// results converted on the JS thread: callback(err | null, results).
template <typename T, typename F, typename C>
class DumpWorker : public Napi::AsyncWorker {
 public:
  DumpWorker(Napi::Function cb, int nsfd, F dump, C convert)
      : Napi::AsyncWorker(cb), nsfd_(nsfd), dump_(std::move(dump)), convert_(std::move(convert)) {
    crl_err_clear(&err_);
  }
  ~DumpWorker() override {
    std::free(items_);
  }
  void Execute() override {
    rc_ = dump_(nsfd_, &items_, &count_, &err_);
    if (nsfd_ >= 0) close(nsfd_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (rc_ < 0) {
      Callback().Call({NativeErrorValue(env, err_)});
      return;
    }
    Callback().Call({env.Null(), convert_(env, items_, count_)});
  }

 private:
  int nsfd_;
  F dump_;
  C convert_;
  T *items_ = nullptr;
  size_t count_ = 0;
  int rc_ = 0;
  crl_err err_;
};

// Run `dump(nsfd, &items, &count, &err)` in the namespace of the options object at argument `arg`
// (none: the caller's) and return convert(env, items, count); or, with a function at argument
// arg + 1, the same on a worker thread, calling it back with (err | null, results).
template <typename T, typename F, typename C>
Napi::Value Dump(const Napi::CallbackInfo &info, size_t arg, F dump, C convert) {
  Napi::Env env = info.Env();
  crl_err err;
  crl_err_clear(&err);
  Napi::Object opts = info.Length() > arg && info[arg].IsObject() ? info[arg].As<Napi::Object>()
                                                                  : Napi::Object::New(env);
  int nsfd = OpenNs(opts, &err);
  if (nsfd < -1) return ThrowNative(env, err);
  if (info.Length() > arg + 1 && info[arg + 1].IsFunction()) {
    (new DumpWorker<T, F, C>(info[arg + 1].As<Napi::Function>(), nsfd, std::move(dump),
                             std::move(convert)))
        ->Queue();
    return env.Undefined();
  }
  T *items = nullptr;
  size_t count = 0;
  int rc = dump(nsfd, &items, &count, &err);
  if (nsfd >= 0) close(nsfd);
  if (rc < 0) return ThrowNative(env, err);
  Napi::Value out = convert(env, items, count);
  std::free(items);
  return out;
}

Napi::Value QdiscsToJs(Napi::Env env, const crl_qdisc_stats *q, size_t n) {
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
  return out;
}

Napi::Value RttsToJs(Napi::Env env, const uint32_t *rtts, size_t n) {
  Napi::Array out = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) out.Set(static_cast<uint32_t>(i), rtts[i]);
  return out;
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
  if (!sv.IsTypedArray() || sv.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    return ThrowArgType(env, "netApply: steps as a Uint8Array from lib/linux/net_encode.ts");
  Napi::Uint8Array bytes = sv.As<Napi::Uint8Array>();
  StepReader reader(bytes.Data(), bytes.ByteLength());
  uint32_t count;
  if (!reader.U32(&count)) return ThrowArgType(env, "netApply: steps: an empty buffer");
  if (count > (bytes.ByteLength() - 4) / 2)
    return ThrowArgType(env, "netApply: steps: more steps than bytes");  // 2 bytes at least each
  std::vector<crl_step> steps(count);
  for (uint32_t i = 0; i < count; i++)
    if (!DecodeStep(env, &reader, &steps[i])) return env.Undefined();
  if (!reader.AtEnd()) return ThrowArgType(env, "netApply: steps: bytes past the last step");
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
  (new CallWorker(info[1].As<Napi::Function>(), [group](crl_err *e) {
    return crl_net_delete_group(group, e);
  }))->Queue();
  return env.Undefined();
}

Napi::Value NetFilters(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string link;
  if (!ArgString(info, 0, "link", &link)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsNumber())
    return ThrowArgType(env, "netFilters: parent must be a number");
  uint32_t parent = info[1].As<Napi::Number>().Uint32Value();
  crl_filter_id *f = nullptr;
  size_t n = 0;
  auto dump = [&](int nsfd, crl_filter_id **o, size_t *c, crl_err *e) {
    return crl_net_filters(nsfd, link.c_str(), parent, o, c, e);
  };
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
  auto dump = [link](int nsfd, crl_qdisc_stats **o, size_t *c, crl_err *e) {
    return crl_net_qdiscs(nsfd, link.c_str(), o, c, e);
  };
  return Dump<crl_qdisc_stats>(info, 1, dump, QdiscsToJs);
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
  if (crl_net_fresh_sysctls(ptrs.data(), ptrs.size(), reinterpret_cast<char(*)[128]>(values.data()),
                            &err) < 0)
    return ThrowNative(env, err);
  Napi::Array out = Napi::Array::New(env, a.Length());
  for (uint32_t i = 0; i < a.Length(); i++)
    out.Set(i,
            values[i].text[0] ? Napi::Value(Napi::String::New(env, values[i].text)) : env.Null());
  return out;
}

Napi::Value NetTcpRtts(const Napi::CallbackInfo &info) {
  return Dump<uint32_t>(info, 0, crl_net_tcp_rtts, RttsToJs);
}

}  // namespace crl
