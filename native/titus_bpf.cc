// titus_bpf: the native half of the task packet filter (docs/ebpf.md).
//
// Loads build/bpf/filter.o with libbpf, fills its maps, attaches its program
// as a direct-action tc classifier on an interface's ingress hook
// (bpf_tc_attach: the same kind of filter `tc filter add … bpf da obj …`
// makes, so either path can find, update and remove what the other attached),
// and finds an attachment's maps again through the filter alone: the filter
// holds the program, the program holds its maps, and nothing is pinned.
//
// Every operation runs on a thread of its own, which first enters the given
// network namespace (setns only affects the calling thread), so the executor
// can work on a host namespace other than its own and libuv's pool threads
// never change namespace. Failures reject with an errno-shaped Error:
// { code: 'EPERM', errno: -1, syscall: 'bpf_tc_attach', message, log? },
// errno negative as in Node's own system errors; `log` is libbpf's output
// (the verifier log when the kernel refused the program).
//
// JavaScript API (one typed wrapper: src/native/index.ts):
//   attach({ ifname, netnsPath?, handle, priority, program, objectPath, writes }) -> { ifindex, progId }
//   update({ ifname, netnsPath?, handle, priority, program, writes }) -> undefined
//   detach({ ifname, netnsPath?, handle, priority, program }) -> { removed, qdiscRemoved }
//   query({ ifname, netnsPath?, handle, priority, program? }) -> null | { ifindex, progId, progName, maps }
//   dump({ ifname, netnsPath?, handle, priority, program, map }) -> { percpuStride, entries: [{ key, value }] }
//   probe({ objectPath, program }) -> undefined   (loads the program into the kernel and frees it)
//   writes: [{ map, replace, entries: [{ key: Buffer, value: Buffer }] }]
#include <napi.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

constexpr uint32_t kAbiVersion = 1;
constexpr size_t kMaxLog = 64 * 1024;

using Bytes = std::vector<uint8_t>;

// ---- libbpf's messages, per operation thread ---------------------------------

thread_local std::string *threadLog = nullptr;

int collectLibbpfOutput(enum libbpf_print_level level, const char *format, va_list args) {
  if (threadLog == nullptr || level == LIBBPF_DEBUG || threadLog->size() >= kMaxLog) return 0;
  char line[2048];
  int n = vsnprintf(line, sizeof line, format, args);
  if (n > 0) threadLog->append(line, std::min<size_t>(static_cast<size_t>(n), sizeof line - 1));
  return 0;
}

// ---- small RAII helpers -------------------------------------------------------

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd &&other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd &operator=(Fd &&other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd &) = delete;
  Fd &operator=(const Fd &) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

struct ObjectCloser {
  bpf_object *obj;
  ~ObjectCloser() {
    if (obj != nullptr) bpf_object__close(obj);
  }
};

// libbpf's own error numbers (4000 and up: not an ELF object, wrong kernel version, …).
constexpr int kLibbpfErrnoStart = 4000;

std::string errnoText(int err) {
  if (err >= kLibbpfErrnoStart) {
    char text[256];
    libbpf_strerror(err, text, sizeof text);
    return text;
  }
  return strerror(err);
}

std::string errnoName(int err) {
  if (err >= kLibbpfErrnoStart) return "ELIBBPF";
  const char *name = strerrorname_np(err);
  return name == nullptr ? "E" + std::to_string(err) : name;
}

// The last non-empty lines of a libbpf log (the verifier's conclusion).
std::string logTail(const std::string &log, size_t lines) {
  std::vector<std::string> kept;
  size_t end = log.size();
  while (end > 0 && kept.size() < lines) {
    size_t start = log.rfind('\n', end - 1);
    size_t from = start == std::string::npos ? 0 : start + 1;
    std::string line = log.substr(from, end - from);
    if (!line.empty() && line.find_first_not_of(" \t") != std::string::npos) kept.push_back(line);
    if (start == std::string::npos) break;
    end = start;
  }
  std::string out;
  for (auto it = kept.rbegin(); it != kept.rend(); ++it) out += (out.empty() ? "" : " | ") + *it;
  return out;
}

// ---- what JavaScript asks for ---------------------------------------------------

struct Target {
  std::string ifname;
  std::string netnsPath;
  uint32_t handle = 1;
  uint32_t priority = 1;
  std::string program;
};

struct MapWrite {
  std::string map;
  bool replace = false;
  std::vector<std::pair<Bytes, Bytes>> entries;
};

struct MapRef {
  uint32_t id = 0;
  std::string name;
  uint32_t type = 0;
  uint32_t keySize = 0;
  uint32_t valueSize = 0;
  uint32_t maxEntries = 0;
  Fd fd;
};

bool throwType(Napi::Env env, const std::string &message) {
  Napi::TypeError::New(env, "titus_bpf: " + message).ThrowAsJavaScriptException();
  return false;
}

bool readString(Napi::Object from, const char *key, std::string &out, bool required) {
  Napi::Env env = from.Env();
  Napi::Value value = from.Get(key);
  if (env.IsExceptionPending()) return false;
  if (value.IsUndefined() && !required) return true;
  if (!value.IsString()) return throwType(env, std::string(key) + " must be a string");
  out = value.As<Napi::String>().Utf8Value();
  if (out.find('\0') != std::string::npos) return throwType(env, std::string(key) + " contains a NUL character");
  return true;
}

bool readU32(Napi::Object from, const char *key, uint32_t &out) {
  Napi::Env env = from.Env();
  Napi::Value value = from.Get(key);
  if (env.IsExceptionPending()) return false;
  if (value.IsUndefined()) return true;  // keep the default
  if (!value.IsNumber()) return throwType(env, std::string(key) + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= 0 && number <= 4294967295.0) || number != static_cast<double>(static_cast<uint32_t>(number))) {
    return throwType(env, std::string(key) + " must be an unsigned 32-bit integer");
  }
  out = static_cast<uint32_t>(number);
  return true;
}

bool readBytes(Napi::Env env, Napi::Value value, const char *what, Bytes &out) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    return throwType(env, std::string(what) + " must be a Buffer or Uint8Array");
  }
  auto array = value.As<Napi::Uint8Array>();
  out.assign(array.Data(), array.Data() + array.ByteLength());
  return true;
}

bool readTarget(Napi::Object from, Target &target, bool needsInterface) {
  if (needsInterface) {
    if (!readString(from, "ifname", target.ifname, true)) return false;
    if (target.ifname.empty() || target.ifname.size() >= IF_NAMESIZE) {
      return throwType(from.Env(), "ifname must be 1 to 15 characters");
    }
    if (!readString(from, "netnsPath", target.netnsPath, false)) return false;
    if (!readU32(from, "handle", target.handle) || !readU32(from, "priority", target.priority)) return false;
    if (target.handle == 0 || target.priority == 0 || target.priority > 0xffff) {
      return throwType(from.Env(), "handle must be non-zero and priority 1 to 65535");
    }
  }
  return readString(from, "program", target.program, needsInterface ? false : true);
}

bool readWrites(Napi::Object from, std::vector<MapWrite> &writes) {
  Napi::Env env = from.Env();
  Napi::Value value = from.Get("writes");
  if (env.IsExceptionPending()) return false;
  if (value.IsUndefined()) return true;
  if (!value.IsArray()) return throwType(env, "writes must be an array");
  auto list = value.As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value item = list.Get(i);
    if (!item.IsObject()) return throwType(env, "writes[] must be objects");
    auto object = item.As<Napi::Object>();
    MapWrite write;
    if (!readString(object, "map", write.map, true)) return false;
    Napi::Value replace = object.Get("replace");
    write.replace = replace.IsBoolean() && replace.As<Napi::Boolean>().Value();
    Napi::Value entries = object.Get("entries");
    if (!entries.IsArray()) return throwType(env, "writes[].entries must be an array");
    auto entryList = entries.As<Napi::Array>();
    for (uint32_t j = 0; j < entryList.Length(); j++) {
      Napi::Value entry = entryList.Get(j);
      if (!entry.IsObject()) return throwType(env, "writes[].entries[] must be { key, value }");
      Bytes key, val;
      if (!readBytes(env, entry.As<Napi::Object>().Get("key"), "key", key)) return false;
      if (!readBytes(env, entry.As<Napi::Object>().Get("value"), "value", val)) return false;
      write.entries.emplace_back(std::move(key), std::move(val));
    }
    writes.push_back(std::move(write));
  }
  return true;
}

// ---- one operation: a thread, a namespace, a promise ----------------------------

class Operation : public Napi::AsyncWorker {
 public:
  Operation(Napi::Env env, Target target)
      : Napi::AsyncWorker(env, "titus_bpf"), deferred_(Napi::Promise::Deferred::New(env)), target_(std::move(target)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  // Runs on the operation's own thread, inside the target namespace.
  virtual void Run() = 0;
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }

  void Execute() override {
    std::thread worker([this] {
      threadLog = &log_;
      if (EnterNamespace()) Run();
      threadLog = nullptr;
    });
    worker.join();
    if (err_ != 0) SetError(message_);
  }

  void OnOK() override { deferred_.Resolve(Result(Env())); }

  void OnError(const Napi::Error &) override {
    Napi::Env env = Env();
    Napi::Error error = Napi::Error::New(env, message_);
    Napi::Object object = error.Value();
    object.Set("code", errnoName(err_));
    object.Set("errno", Napi::Number::New(env, -err_));
    object.Set("syscall", syscall_);
    if (!target_.ifname.empty()) object.Set("ifname", target_.ifname);
    if (!log_.empty()) object.Set("log", log_);
    deferred_.Reject(object);
  }

  // Records a failure (err > 0, an errno) and returns false.
  bool Fail(int err, const std::string &syscall, const std::string &message) {
    err_ = err > 0 ? err : EIO;
    syscall_ = syscall;
    message_ = message + " (" + syscall + ": " + errnoText(err_) + ")";
    return false;
  }

  std::string Where() const {
    return target_.netnsPath.empty() ? target_.ifname : target_.ifname + " in " + target_.netnsPath;
  }

  bool ResolveInterface() {
    ifindex_ = static_cast<int>(if_nametoindex(target_.ifname.c_str()));
    if (ifindex_ == 0) return Fail(errno == 0 ? ENODEV : errno, "if_nametoindex", "no interface " + Where());
    return true;
  }

  bpf_tc_hook Hook(int attachPoint = BPF_TC_INGRESS) const {
    bpf_tc_hook hook;
    memset(&hook, 0, sizeof hook);
    hook.sz = sizeof hook;
    hook.ifindex = ifindex_;
    hook.attach_point = static_cast<bpf_tc_attach_point>(attachPoint);
    return hook;
  }

  bpf_tc_opts Opts() const {
    bpf_tc_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.sz = sizeof opts;
    opts.handle = target_.handle;
    opts.priority = target_.priority;
    return opts;
  }

  // The program id of the filter at handle/priority on the ingress hook, or 0.
  bool QueryFilter(uint32_t &progId) {
    bpf_tc_hook hook = Hook();
    bpf_tc_opts opts = Opts();
    int err = bpf_tc_query(&hook, &opts);
    progId = 0;
    // ENOENT: no such filter; EINVAL: no ingress hook qdisc at all.
    if (err == -ENOENT || err == -EINVAL) return true;
    if (err != 0) return Fail(-err, "bpf_tc_query", "cannot query the filters of " + Where());
    progId = opts.prog_id;
    return true;
  }

  bool MapInfo(int fd, MapRef &ref) {
    bpf_map_info info;
    memset(&info, 0, sizeof info);
    uint32_t length = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &length) != 0) return Fail(errno, "bpf_obj_get_info_by_fd", "cannot read a map's info");
    ref.id = info.id;
    ref.name = info.name;
    ref.type = info.type;
    ref.keySize = info.key_size;
    ref.valueSize = info.value_size;
    ref.maxEntries = info.max_entries;
    return true;
  }

  // The program's name and its maps (with open fds).
  bool ProgramMaps(uint32_t progId, std::string &progName, std::vector<MapRef> &maps) {
    Fd prog(bpf_prog_get_fd_by_id(progId));
    if (!prog.ok()) return Fail(errno, "bpf_prog_get_fd_by_id", "cannot open program " + std::to_string(progId));
    bpf_prog_info info;
    memset(&info, 0, sizeof info);
    uint32_t length = sizeof info;
    if (bpf_obj_get_info_by_fd(prog.get(), &info, &length) != 0) {
      return Fail(errno, "bpf_obj_get_info_by_fd", "cannot read program " + std::to_string(progId));
    }
    std::vector<uint32_t> ids(info.nr_map_ids);
    progName = info.name;
    if (!ids.empty()) {
      uint32_t count = info.nr_map_ids;
      memset(&info, 0, sizeof info);
      info.nr_map_ids = count;
      info.map_ids = reinterpret_cast<uint64_t>(ids.data());
      length = sizeof info;
      if (bpf_obj_get_info_by_fd(prog.get(), &info, &length) != 0) {
        return Fail(errno, "bpf_obj_get_info_by_fd", "cannot read the maps of program " + std::to_string(progId));
      }
      ids.resize(std::min(count, info.nr_map_ids));
    }
    for (uint32_t id : ids) {
      MapRef ref;
      ref.fd = Fd(bpf_map_get_fd_by_id(id));
      if (!ref.fd.ok()) return Fail(errno, "bpf_map_get_fd_by_id", "cannot open map " + std::to_string(id));
      if (!MapInfo(ref.fd.get(), ref)) return false;
      maps.push_back(std::move(ref));
    }
    return true;
  }

  // The attached filter's program, which must be target_.program; progId 0 when none is attached.
  bool AttachedProgram(uint32_t &progId, std::string &progName, std::vector<MapRef> &maps) {
    if (!QueryFilter(progId) || progId == 0) return progId == 0 && err_ == 0;
    if (!ProgramMaps(progId, progName, maps)) return false;
    if (!target_.program.empty() && progName != target_.program) {
      return Fail(EEXIST, "bpf_tc_query",
                  "the filter at prio " + std::to_string(target_.priority) + " handle " + std::to_string(target_.handle) +
                      " on " + Where() + " runs program " + progName + ", not " + target_.program);
    }
    return true;
  }

  bool WriteMap(int fd, const MapRef &ref, const MapWrite &write) {
    std::set<std::string> wanted;  // keys as byte strings
    for (const auto &[key, value] : write.entries) {
      if (key.size() != ref.keySize || value.size() != ref.valueSize) {
        return Fail(EINVAL, "bpf_map_update_elem",
                    "map " + ref.name + " takes " + std::to_string(ref.keySize) + "-byte keys and " +
                        std::to_string(ref.valueSize) + "-byte values");
      }
      if (bpf_map_update_elem(fd, key.data(), value.data(), BPF_ANY) != 0) {
        return Fail(errno, "bpf_map_update_elem", "cannot update map " + ref.name);
      }
      wanted.emplace(key.begin(), key.end());
    }
    // Stale keys go after the new ones are in, so a kept address never disappears.
    bool deletable = ref.type == BPF_MAP_TYPE_HASH || ref.type == BPF_MAP_TYPE_LRU_HASH;
    if (!write.replace || !deletable) return true;
    std::vector<Bytes> stale;
    Bytes key(ref.keySize), next(ref.keySize);
    bool first = true;
    while (bpf_map_get_next_key(fd, first ? nullptr : key.data(), next.data()) == 0) {
      first = false;
      if (wanted.count(std::string(next.begin(), next.end())) == 0) stale.push_back(next);
      key = next;
    }
    for (const Bytes &gone : stale) {
      if (bpf_map_delete_elem(fd, gone.data()) != 0 && errno != ENOENT) {
        return Fail(errno, "bpf_map_delete_elem", "cannot delete from map " + ref.name);
      }
    }
    return true;
  }

  bool ApplyWrites(const std::vector<MapRef> &maps, const std::vector<MapWrite> &writes) {
    for (const MapWrite &write : writes) {
      auto found = std::find_if(maps.begin(), maps.end(), [&](const MapRef &m) { return m.name == write.map; });
      if (found == maps.end()) return Fail(ENOENT, "bpf_map_get_fd_by_id", "the program has no map " + write.map);
      if (!WriteMap(found->fd.get(), *found, write)) return false;
    }
    return true;
  }

  // Filters on a clsact/ingress block, counted with an RTM_GETTFILTER dump.
  int CountFilters(uint32_t parent, int &count) {
    count = 0;
    Fd sock(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!sock.ok()) return -errno;
    struct {
      nlmsghdr header;
      tcmsg message;
    } request;
    memset(&request, 0, sizeof request);
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(tcmsg));
    request.header.nlmsg_type = RTM_GETTFILTER;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.header.nlmsg_seq = 1;
    request.message.tcm_family = AF_UNSPEC;
    request.message.tcm_ifindex = ifindex_;
    request.message.tcm_parent = parent;
    sockaddr_nl kernel;
    memset(&kernel, 0, sizeof kernel);
    kernel.nl_family = AF_NETLINK;
    if (sendto(sock.get(), &request, request.header.nlmsg_len, 0, reinterpret_cast<sockaddr *>(&kernel), sizeof kernel) < 0) {
      return -errno;
    }
    alignas(nlmsghdr) char buffer[32768];
    for (;;) {
      ssize_t received = recv(sock.get(), buffer, sizeof buffer, 0);
      if (received < 0) {
        if (errno == EINTR) continue;
        return -errno;
      }
      if (received == 0) return -EIO;
      int length = static_cast<int>(received);
      for (auto *header = reinterpret_cast<nlmsghdr *>(buffer); NLMSG_OK(header, length); header = NLMSG_NEXT(header, length)) {
        if (header->nlmsg_type == NLMSG_DONE) return 0;
        if (header->nlmsg_type == NLMSG_ERROR) return static_cast<nlmsgerr *>(NLMSG_DATA(header))->error;
        if (header->nlmsg_type == RTM_NEWTFILTER) count++;
      }
    }
  }

  // Deletes the clsact qdisc when no filter is left on it; an `ingress` qdisc
  // (someone else's: the bandwidth shaping's) is never touched.
  bool RemoveEmptyClsact() {
    int ingress = 0, egress = 0;
    if (CountFilters(TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS), ingress) != 0) return false;
    if (CountFilters(TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS), egress) != 0) return false;
    if (ingress != 0 || egress != 0) return false;
    bpf_tc_hook hook = Hook(BPF_TC_INGRESS | BPF_TC_EGRESS);
    // The kernel checks the kind: this fails (EINVAL) on an ingress qdisc.
    return bpf_tc_hook_destroy(&hook) == 0;
  }

  Napi::Promise::Deferred deferred_;
  Target target_;
  int ifindex_ = 0;
  int err_ = 0;
  std::string syscall_;
  std::string message_;
  std::string log_;

 private:
  bool EnterNamespace() {
    if (target_.netnsPath.empty()) return true;
    Fd ns(open(target_.netnsPath.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns.ok()) return Fail(errno, "open", "cannot open network namespace " + target_.netnsPath);
    if (setns(ns.get(), CLONE_NEWNET) != 0) return Fail(errno, "setns", "cannot enter network namespace " + target_.netnsPath);
    return true;
  }
};

// Opens and loads the object; maps stay owned by the returned object.
class LoadingOperation : public Operation {
 public:
  LoadingOperation(Napi::Env env, Target target, std::string objectPath)
      : Operation(env, std::move(target)), objectPath_(std::move(objectPath)) {}

 protected:
  bpf_object *Load(bpf_program *&program) {
    bpf_object *object = bpf_object__open_file(objectPath_.c_str(), nullptr);
    if (object == nullptr) {
      Fail(errno, "bpf_object__open_file", "cannot open eBPF object " + objectPath_);
      return nullptr;
    }
    program = bpf_object__find_program_by_name(object, target_.program.c_str());
    if (program == nullptr) {
      bpf_object__close(object);
      Fail(ENOENT, "bpf_object__find_program_by_name", "eBPF object " + objectPath_ + " has no program " + target_.program);
      return nullptr;
    }
    bpf_program *other;
    bpf_object__for_each_program(other, object) {
      if (other != program) bpf_program__set_autoload(other, false);
    }
    bpf_program__set_type(program, BPF_PROG_TYPE_SCHED_CLS);
    int err = bpf_object__load(object);
    if (err != 0) {
      std::string tail = logTail(log_, 3);
      bpf_object__close(object);
      Fail(-err, "bpf_object__load",
           "the kernel refused eBPF object " + objectPath_ + (tail.empty() ? std::string() : " [" + tail + "]"));
      return nullptr;
    }
    return object;
  }

  std::string objectPath_;
};

class ProbeOperation : public LoadingOperation {
 public:
  using LoadingOperation::LoadingOperation;

 protected:
  void Run() override {
    bpf_program *program = nullptr;
    ObjectCloser closer{Load(program)};
  }
};

class AttachOperation : public LoadingOperation {
 public:
  AttachOperation(Napi::Env env, Target target, std::string objectPath, std::vector<MapWrite> writes)
      : LoadingOperation(env, std::move(target), std::move(objectPath)), writes_(std::move(writes)) {}

 protected:
  void Run() override {
    if (!ResolveInterface()) return;
    bpf_program *program = nullptr;
    ObjectCloser closer{Load(program)};
    if (closer.obj == nullptr) return;

    // The maps are filled before the program sees a packet.
    std::vector<MapRef> maps;
    bpf_map *map;
    bpf_object__for_each_map(map, closer.obj) {
      MapRef ref;
      ref.fd = Fd(dup(bpf_map__fd(map)));
      if (!ref.fd.ok()) return (void)Fail(errno, "dup", "cannot duplicate a map fd");
      if (!MapInfo(ref.fd.get(), ref)) return;
      maps.push_back(std::move(ref));
    }
    if (!ApplyWrites(maps, writes_)) return;

    bpf_tc_hook hook = Hook();
    int err = bpf_tc_hook_create(&hook);
    // EEXIST: a clsact qdisc is there, or an ingress qdisc (which takes the filter as well).
    bool created = err == 0;
    if (err != 0 && err != -EEXIST) return (void)Fail(-err, "bpf_tc_hook_create", "cannot add a clsact qdisc to " + Where());

    bpf_tc_opts opts = Opts();
    opts.prog_fd = bpf_program__fd(program);
    opts.flags = BPF_TC_F_REPLACE;  // a retried attach replaces its own earlier filter
    err = bpf_tc_attach(&hook, &opts);
    if (err != 0) {
      if (created) RemoveEmptyClsact();
      std::string hint = err == -EINVAL ? "; is another kind of filter at prio " + std::to_string(target_.priority) + "?" : "";
      return (void)Fail(-err, "bpf_tc_attach", "cannot attach the filter to " + Where() + hint);
    }
    progId_ = opts.prog_id;
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object result = Napi::Object::New(env);
    result.Set("ifindex", ifindex_);
    result.Set("progId", progId_);
    return result;
  }

 private:
  std::vector<MapWrite> writes_;
  uint32_t progId_ = 0;
};

class UpdateOperation : public Operation {
 public:
  UpdateOperation(Napi::Env env, Target target, std::vector<MapWrite> writes)
      : Operation(env, std::move(target)), writes_(std::move(writes)) {}

 protected:
  void Run() override {
    if (!ResolveInterface()) return;
    uint32_t progId = 0;
    std::string progName;
    std::vector<MapRef> maps;
    if (!AttachedProgram(progId, progName, maps)) return;
    if (progId == 0) return (void)Fail(ENOENT, "bpf_tc_query", "no packet filter is attached to " + Where());
    ApplyWrites(maps, writes_);
  }

 private:
  std::vector<MapWrite> writes_;
};

class DetachOperation : public Operation {
 public:
  using Operation::Operation;

 protected:
  void Run() override {
    if (!ResolveInterface()) return;
    uint32_t progId = 0;
    std::string progName;
    std::vector<MapRef> maps;
    if (!AttachedProgram(progId, progName, maps)) return;
    maps.clear();
    if (progId != 0) {
      bpf_tc_hook hook = Hook();
      bpf_tc_opts opts = Opts();
      int err = bpf_tc_detach(&hook, &opts);
      if (err != 0 && err != -ENOENT) return (void)Fail(-err, "bpf_tc_detach", "cannot remove the filter from " + Where());
      removed_ = err == 0;
    }
    qdiscRemoved_ = RemoveEmptyClsact();
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object result = Napi::Object::New(env);
    result.Set("removed", removed_);
    result.Set("qdiscRemoved", qdiscRemoved_);
    return result;
  }

 private:
  bool removed_ = false;
  bool qdiscRemoved_ = false;
};

class QueryOperation : public Operation {
 public:
  using Operation::Operation;

 protected:
  void Run() override {
    if (!ResolveInterface()) return;
    AttachedProgram(progId_, progName_, maps_);
  }

  Napi::Value Result(Napi::Env env) override {
    if (progId_ == 0) return env.Null();
    Napi::Object result = Napi::Object::New(env);
    result.Set("ifindex", ifindex_);
    result.Set("progId", progId_);
    result.Set("progName", progName_);
    Napi::Array maps = Napi::Array::New(env, maps_.size());
    for (size_t i = 0; i < maps_.size(); i++) {
      Napi::Object map = Napi::Object::New(env);
      map.Set("id", maps_[i].id);
      map.Set("name", maps_[i].name);
      map.Set("type", maps_[i].type);
      map.Set("keySize", maps_[i].keySize);
      map.Set("valueSize", maps_[i].valueSize);
      map.Set("maxEntries", maps_[i].maxEntries);
      maps.Set(static_cast<uint32_t>(i), map);
    }
    result.Set("maps", maps);
    return result;
  }

 private:
  uint32_t progId_ = 0;
  std::string progName_;
  std::vector<MapRef> maps_;
};

class DumpOperation : public Operation {
 public:
  DumpOperation(Napi::Env env, Target target, std::string map) : Operation(env, std::move(target)), map_(std::move(map)) {}

 protected:
  void Run() override {
    if (!ResolveInterface()) return;
    uint32_t progId = 0;
    std::string progName;
    std::vector<MapRef> maps;
    if (!AttachedProgram(progId, progName, maps)) return;
    if (progId == 0) return (void)Fail(ENOENT, "bpf_tc_query", "no packet filter is attached to " + Where());
    auto found = std::find_if(maps.begin(), maps.end(), [&](const MapRef &m) { return m.name == map_; });
    if (found == maps.end()) return (void)Fail(ENOENT, "bpf_map_get_fd_by_id", "the program has no map " + map_);
    bool percpu = found->type == BPF_MAP_TYPE_PERCPU_ARRAY || found->type == BPF_MAP_TYPE_PERCPU_HASH ||
                  found->type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
    size_t valueBytes = found->valueSize;
    if (percpu) {
      int cpus = libbpf_num_possible_cpus();
      if (cpus <= 0) return (void)Fail(-cpus, "libbpf_num_possible_cpus", "cannot count the possible CPUs");
      stride_ = (found->valueSize + 7) / 8 * 8;
      valueBytes = stride_ * static_cast<size_t>(cpus);
    }
    Bytes key(found->keySize), next(found->keySize);
    bool first = true;
    while (bpf_map_get_next_key(found->fd.get(), first ? nullptr : key.data(), next.data()) == 0) {
      first = false;
      Bytes value(valueBytes);
      if (bpf_map_lookup_elem(found->fd.get(), next.data(), value.data()) == 0) entries_.emplace_back(next, std::move(value));
      key = next;
    }
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object result = Napi::Object::New(env);
    result.Set("percpuStride", static_cast<uint32_t>(stride_));
    Napi::Array entries = Napi::Array::New(env, entries_.size());
    for (size_t i = 0; i < entries_.size(); i++) {
      Napi::Object entry = Napi::Object::New(env);
      entry.Set("key", Napi::Buffer<uint8_t>::Copy(env, entries_[i].first.data(), entries_[i].first.size()));
      entry.Set("value", Napi::Buffer<uint8_t>::Copy(env, entries_[i].second.data(), entries_[i].second.size()));
      entries.Set(static_cast<uint32_t>(i), entry);
    }
    result.Set("entries", entries);
    return result;
  }

 private:
  std::string map_;
  size_t stride_ = 0;
  std::vector<std::pair<Bytes, Bytes>> entries_;
};

// ---- exported functions ----------------------------------------------------------

Napi::Object Options(const Napi::CallbackInfo &info) {
  if (info.Length() < 1 || !info[0].IsObject()) {
    throwType(info.Env(), "expects an options object");
    return Napi::Object();
  }
  return info[0].As<Napi::Object>();
}

template <typename Op, typename... Args>
Napi::Value Start(Napi::Env env, Args &&...args) {
  auto *operation = new Op(env, std::forward<Args>(args)...);
  Napi::Promise promise = operation->Promise();
  operation->Queue();
  return promise;
}

Napi::Value Attach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object options = Options(info);
  Target target;
  std::string objectPath;
  std::vector<MapWrite> writes;
  if (options.IsEmpty() || !readTarget(options, target, true) || !readString(options, "objectPath", objectPath, true) ||
      !readWrites(options, writes)) {
    return env.Undefined();
  }
  if (target.program.empty()) return throwType(env, "program is required"), env.Undefined();
  return Start<AttachOperation>(env, std::move(target), std::move(objectPath), std::move(writes));
}

Napi::Value Update(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object options = Options(info);
  Target target;
  std::vector<MapWrite> writes;
  if (options.IsEmpty() || !readTarget(options, target, true) || !readWrites(options, writes)) return env.Undefined();
  return Start<UpdateOperation>(env, std::move(target), std::move(writes));
}

Napi::Value Detach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object options = Options(info);
  Target target;
  if (options.IsEmpty() || !readTarget(options, target, true)) return env.Undefined();
  return Start<DetachOperation>(env, std::move(target));
}

Napi::Value Query(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object options = Options(info);
  Target target;
  if (options.IsEmpty() || !readTarget(options, target, true)) return env.Undefined();
  return Start<QueryOperation>(env, std::move(target));
}

Napi::Value Dump(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object options = Options(info);
  Target target;
  std::string map;
  if (options.IsEmpty() || !readTarget(options, target, true) || !readString(options, "map", map, true)) return env.Undefined();
  return Start<DumpOperation>(env, std::move(target), std::move(map));
}

Napi::Value Probe(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object options = Options(info);
  Target target;
  std::string objectPath;
  if (options.IsEmpty() || !readTarget(options, target, false) || !readString(options, "objectPath", objectPath, true)) {
    return env.Undefined();
  }
  return Start<ProbeOperation>(env, std::move(target), std::move(objectPath));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  libbpf_set_print(collectLibbpfOutput);
  exports.Set("abiVersion", kAbiVersion);
  exports.Set("libbpfVersion", libbpf_version_string());
  exports.Set("attach", Napi::Function::New(env, Attach, "attach"));
  exports.Set("update", Napi::Function::New(env, Update, "update"));
  exports.Set("detach", Napi::Function::New(env, Detach, "detach"));
  exports.Set("query", Napi::Function::New(env, Query, "query"));
  exports.Set("dump", Napi::Function::New(env, Dump, "dump"));
  exports.Set("probe", Napi::Function::New(env, Probe, "probe"));
  return exports;
}

}  // namespace

NODE_API_MODULE(titus_bpf, Init)
