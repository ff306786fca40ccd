# forkover's native code: the sd_notify datagram sender (native/notify.c) and the
# PID 1 reaper (native/init.c).
# Built by `npm install` (npm runs `node-gyp rebuild` for a package with a binding.gyp).
{
  "targets": [
    {
      "target_name": "forkover_notify",
      "sources": ["native/notify.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "forkover_init",
      "sources": ["native/init.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
