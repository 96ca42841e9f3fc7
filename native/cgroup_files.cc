// Small kernel files read in one call: a child's cgroup counters at its exit (lib/cgroup/) are
// eight files, and one readFileSync each costs the agent's thread several times the reads.
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "cgroup_files.h"
#include "napi_boundary.h"

namespace {

// readFiles(paths): each file's text (up to 4 KiB, all any counter file holds), or null when it
// cannot be read.
Napi::Value ReadFiles(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Array paths = info[0].As<Napi::Array>();
  Napi::Array out = Napi::Array::New(env, paths.Length());
  char buffer[4096];
  for (uint32_t i = 0; i < paths.Length(); i++) {
    std::string file = paths.Get(i).As<Napi::String>();
    int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    ssize_t length = -1;
    if (fd >= 0) {
      do length = read(fd, buffer, sizeof buffer);
      while (length < 0 && errno == EINTR);
      close(fd);
    }
    out.Set(i, length < 0 ? env.Null() : Napi::Value(Napi::String::New(env, buffer, size_t(length))));
  }
  return out;
}

}  // namespace

void RegisterCgroupFiles(Napi::Env env, Napi::Object exports, void (*exportFn)(Napi::Env, Napi::Object, const char *, napi_callback)) {
  exportFn(env, exports, "readFiles", boundary::Entry<ReadFiles>);
}
