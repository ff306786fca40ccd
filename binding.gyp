# forkover's only native code: the sd_notify datagram sender (native/notify.c).
# Built by `npm install` (npm runs `node-gyp rebuild` for a package with a binding.gyp).
{
  "targets": [
    {
      "target_name": "forkover_notify",
      "sources": ["native/notify.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
