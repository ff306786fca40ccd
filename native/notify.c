/*
 * forkover's sd_notify transport: one AF_UNIX/SOCK_DGRAM datagram to $NOTIFY_SOCKET,
 * sent by the calling process itself, so the kernel attaches *our* PID and uid to it
 * (SCM_CREDENTIALS, which systemd asks for) and NotifyAccess=main hears it, whatever
 * user the service runs as. Node core has no unix datagram sockets (contracts R4.7,
 * R9.8), hence this addon; see the README's "systemd notify transport".
 *
 * send(address, payload) -> undefined, or throws an Error carrying `code` (errno name).
 *   address  "/path" or "@abstract" (the '@' becomes a NUL byte).
 * The address length is offsetof(sun_path) + the name's exact length (R4.2): for an
 * abstract name any trailing NUL would become part of the name, so sizeof() is wrong.
 *
 * Written for forkover; deliberately small: no libsystemd, no state.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <node_api.h>

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, message, error;
  const char *name = err == ENOENT ? "ENOENT" : err == ECONNREFUSED ? "ECONNREFUSED" : err == EACCES ? "EACCES"
                     : err == EPERM ? "EPERM" : err == EAGAIN ? "EAGAIN" : err == ENAMETOOLONG ? "ENAMETOOLONG" : "EIO";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_set_named_property(env, error, "code", code);
  napi_throw(env, error);
  return NULL;
}

static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 2) {
    napi_throw_type_error(env, NULL, "send(address, payload) takes two strings");
    return NULL;
  }
  char addr[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
  size_t addr_len = 0;
  if (napi_get_value_string_utf8(env, argv[0], addr, sizeof addr, &addr_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "address must be a string");
    return NULL;
  }
  size_t payload_len = 0;
  if (napi_get_value_string_utf8(env, argv[1], NULL, 0, &payload_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "payload must be a string");
    return NULL;
  }
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (addr_len == 0 || (addr[0] != '/' && addr[0] != '@')) {
    napi_throw_type_error(env, NULL, "NOTIFY_SOCKET must be an absolute path or start with @");
    return NULL;
  }
  if (addr_len >= sizeof sa.sun_path) return throw_errno(env, ENAMETOOLONG, "NOTIFY_SOCKET");
  memcpy(sa.sun_path, addr, addr_len);
  if (addr[0] == '@') sa.sun_path[0] = '\0';
  socklen_t sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + addr_len);

  char *payload = malloc(payload_len + 1);
  if (payload == NULL) return throw_errno(env, ENOMEM, "payload");
  napi_get_value_string_utf8(env, argv[1], payload, payload_len + 1, &payload_len);

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    free(payload);
    return throw_errno(env, e, "socket(AF_UNIX, SOCK_DGRAM)");
  }
  ssize_t n;
  do {
    n = sendto(fd, payload, payload_len, MSG_NOSIGNAL, (struct sockaddr *)&sa, sa_len);
  } while (n < 0 && errno == EINTR);
  int e = errno;
  close(fd);
  free(payload);
  if (n < 0) return throw_errno(env, e, "sendto NOTIFY_SOCKET");
  if ((size_t)n != payload_len) return throw_errno(env, EIO, "short datagram to NOTIFY_SOCKET");
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "send", NAPI_AUTO_LENGTH, Send, NULL, &fn);
  napi_set_named_property(env, exports, "send", fn);
  return exports;
}
