/*
 * forkover's resident init (PID 1 mode, src/init-process.ts) needs two things Node core
 * lacks: reaping children it did not spawn, and becoming a subreaper.
 *
 * reap() -> [[pid, code, signal], ...]
 *   waitpid(-1, WNOHANG) until nothing is left to collect: every exited child, orphans
 *   reparented to us included. `code` is the exit status (or -1), `signal` the number of
 *   the signal that killed it (or 0). Node reaps only the children libuv spawned, each by
 *   its own PID, so as PID 1 every orphan would stay a zombie without this. When reap()
 *   collects a child libuv spawned, libuv's own waitpid() gets ECHILD and ignores it
 *   (libuv src/unix/process.c, uv__wait_children: "someone else stole the waitpid from
 *   us"): the init therefore takes exits from reap(), never from a ChildProcess 'exit'.
 *
 * setSubreaper() -> undefined, or throws
 *   prctl(PR_SET_CHILD_SUBREAPER, 1): orphans below us come to us, not to the real PID 1
 *   (`--init` when forkover is not PID 1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <node_api.h>

static napi_value Reap(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_array(env, &out);
  uint32_t n = 0;
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid == -1 && errno == EINTR) continue;
    if (pid <= 0) break; /* 0: children left, none exited; -1 ECHILD: no children */
    napi_value entry, v;
    napi_create_array_with_length(env, 3, &entry);
    napi_create_int32(env, pid, &v);
    napi_set_element(env, entry, 0, v);
    napi_create_int32(env, WIFEXITED(status) ? WEXITSTATUS(status) : -1, &v);
    napi_set_element(env, entry, 1, v);
    napi_create_int32(env, WIFSIGNALED(status) ? WTERMSIG(status) : 0, &v);
    napi_set_element(env, entry, 2, v);
    napi_set_element(env, out, n++, entry);
  }
  return out;
}

static napi_value SetSubreaper(napi_env env, napi_callback_info info) {
  (void)info;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    napi_throw_error(env, "EPRCTL", strerror(errno));
  }
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "reap", NAPI_AUTO_LENGTH, Reap, NULL, &fn);
  napi_set_named_property(env, exports, "reap", fn);
  napi_create_function(env, "setSubreaper", NAPI_AUTO_LENGTH, SetSubreaper, NULL, &fn);
  napi_set_named_property(env, exports, "setSubreaper", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
