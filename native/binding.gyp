{
  "targets": [
    {
      "target_name": "titus_bpf",
      "sources": ["titus_bpf.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=gnu++20", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lbpf"]
    }
  ]
}
