{
  "targets": [
    {
      "target_name": "kvpn_tun",
      "conditions": [
        ["OS=='linux'", {
          "sources": ["src/tun/native/tun.c"],
          "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
        }]
      ]
    }
  ]
}
