{
  "targets": [
    {
      "target_name": "procguard",
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "native/addon.cc",
            "native/launch.cc",
            "native/spawn.cc",
            "native/spawn_sync.cc",
            "native/child_watch.cc",
            "native/cgroup_files.cc",
            "native/exit_thread.cc",
            "native/child.c",
            "native/guard/guard_napi.cc",
            "native/guard/guard_loop.cc",
            "native/guard/kernel_files.c"
          ]
        }, {
          "sources": []
        }]
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden",
                 "-include", "<(module_root_dir)/native/glibc_compat.h",
                 "-include", "<(module_root_dir)/native/uv_optional.h"],
      "cflags_cc": ["-std=c++17", "-fexceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": [
        "-Wl,-z,now"
      ],
      "variables": {
        "procguard_static_runtime%": "<!(node scripts/static-runtime.js)"
      },
      "target_conditions": [
        ["OS=='linux' and procguard_static_runtime==1", {
          "ldflags": ["-static-libstdc++", "-static-libgcc", "-Wl,--exclude-libs,ALL"]
        }]
      ]
    }
  ]
}
