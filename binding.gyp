{
  # Build-time options (docs/architecture.md §4). Pass with: npm run build:native:netiso
  #   corral_network_isolator=1: the network isolator's netlink and traffic-control code (raw
  #   rtnetlink, no extra library). Defines CORRAL_WITH_NETWORK_ISOLATOR; the addon then reports
  #   features.networkIsolator = true.
  "variables": {
    "corral_network_isolator%": 0
  },
  "target_defaults": {
    "include_dirs": [ "native" ],
    "cflags": [ "-Wall", "-Wextra", "-O2", "-pthread" ],
    "cflags_c": [ "-std=gnu11" ],
    "ldflags": [ "-pthread" ]
  },
  "targets": [
    {
      "target_name": "corral_native",
      "sources": [
        "native/binding.cc",
        "native/core/err.c",
        "native/core/netns.c",
        "native/core/cgroup.c",
        "native/core/fs.c",
        "native/js/js_cgroup.cc",
        "native/js/js_err.cc",
        "native/js/js_fs.cc",
        "native/js/js_netns.cc"
      ],
      "include_dirs": [ "<!(node -p \"require('node-addon-api').include_dir\")" ],
      "defines": [ "NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS" ],
      "cflags_cc": [ "-std=c++17" ],
      "conditions": [
        [ "corral_network_isolator==1", {
          "defines": [ "CORRAL_WITH_NETWORK_ISOLATOR=1" ],
          "sources": [
            "native/core/rtnl.c",
            "native/core/netcfg.c",
            "native/js/js_net.cc"
          ]
        } ]
      ]
    },
    {
      "target_name": "corral-containerizer",
      "type": "executable",
      "sources": [
        "native/containerizer/main.c",
        "native/containerizer/probe.c",
        "native/containerizer/spawner.c",
        "native/containerizer/status.c"
      ]
    }
  ]
}
