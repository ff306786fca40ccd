/**
 * The shared shape of `forkover init-script` renderers: one function per init system,
 * each turning the same spec into the files that system needs.
 *
 * Must not: read or write files; renderers are pure.
 */

export type InitScriptKind = 'systemd' | 'systemd-notify' | 'systemd-socket' | 'sysv' | 'openrc' | 'logrotate';

export interface InitScriptSpec {
  kind: InitScriptKind;
  /** Service name; also the process title (`--name`, ≤ 15 characters). */
  name: string;
  /** Run the service as this user (each init system's own way; see the renderers). */
  user?: string;
  group?: string;
  /** Absolute pidfile path; default `/run/<name>/<name>.pid`. */
  pidfile: string;
  /**
   * Absolute log file path: the app's stdout and stderr. Kinds that daemonize (systemd,
   * sysv, openrc) and logrotate always have one, `/var/log/<name>/<name>.log` unless
   * `--logfile` says otherwise (issue 16.2: a daemon has no terminal, so without a file
   * its output would go to /dev/null). The foreground kinds (systemd-notify,
   * systemd-socket) have none by default: their output goes to the journal.
   */
  logfile?: string;
  /** `logfile` is the default, not given with `--logfile` (the comments say so). */
  logfileDefault?: boolean;
  /** The `.socket` unit's ListenStream= (systemd-socket only). */
  listen?: string;
  /** The app's own command line, e.g. ['/usr/bin/node', '/srv/app/server.js', '--port', '8080']. */
  command: string[];
  /** The absolute path of the forkover CLI to call for reload/status. */
  forkoverBin: string;
  /**
   * The absolute node that runs `forkoverBin` (never its `#!/usr/bin/env node` line:
   * init systems' PATH may have no node, or another one; issue 16.3): the app's own node
   * when its program is a node binary, else the Node that ran `forkover init-script`.
   */
  node: string;
  /**
   * The app's stop deadline in seconds, as its command line sets it: `--drain-timeout`
   * (default DEFAULT_DRAIN_TIMEOUT_S) plus `--stop-delay` (default 0). Every stop the
   * scripts make waits longer than this before SIGKILL (deadlines.ts). Default: 30.
   */
  drainS?: number;
  /**
   * `--start` (issue 14): the app imports nothing of forkover and calls its own listen(),
   * so the scripts launch it as `<node> <forkoverBin> start <forkover flags> -- <command…>`
   * (launch.ts). `node` is absolute: the command's own node binary, else the Node that ran
   * `forkover init-script`. `flags` are the user's own flags for `forkover start` (e.g.
   * `--workers 2`, `--listeners 2`), already checked, given before the command's `--`.
   */
  start?: { node: string; flags: string[] };
}

export interface RenderedFile {
  /** Suggested file name, e.g. `app.service`, `/etc/init.d/app`. */
  filename: string;
  content: string;
}

export type Renderer = (spec: InitScriptSpec) => RenderedFile[];
