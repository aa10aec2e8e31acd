{
  "variables": {
    "corral_network_isolator%": 0
  },
  "targets": [
    {
      "target_name": "corral_native",
      "sources": [ "native/binding.cc" ],
      "include_dirs": [ "<!(node -p \"require('node-addon-api').include_dir\")", "native" ],
      "defines": [ "NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS" ],
      "cflags": [ "-Wall", "-Wextra", "-O2" ],
      "cflags_cc": [ "-std=c++17" ]
    }
  ]
}
