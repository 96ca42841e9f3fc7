// Small kernel files read in one call (native/cgroup_files.cc).
#ifndef PROCGUARD_CGROUP_FILES_H
#define PROCGUARD_CGROUP_FILES_H

#include <napi.h>

void RegisterCgroupFiles(Napi::Env env, Napi::Object exports, void (*exportFn)(Napi::Env, Napi::Object, const char *, napi_callback));

#endif
