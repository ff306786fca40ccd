/**
 * systemd units for `forkover init-script systemd|systemd-notify|systemd-socket`: the
 * same spec turned into a Type=forking unit, a Type=notify unit with a watchdog, or a
 * socket-activated `.socket` + `.service` pair. Every generated file explains itself in
 * comments, so an operator reading /etc/systemd/system/<name>.service knows why each
 * line is there (contracts §3, §4, §5).
 *
 * Must not: read or write files (renderers are pure; types.ts).
 */
import * as path from 'node:path';
import type { InitScriptSpec, RenderedFile } from './types.js';
import { forkoverWords, launch, programIsNode, regenerateCommand, regenerateLines } from './launch.js';
import { KILL_WAIT_S, stopDeadlines } from './deadlines.js';

/** `WatchdogSec=` of the notify unit unless the caller gives another. */
export const DEFAULT_WATCHDOG_SEC = 30;
/**
 * `TimeoutStopSec=` (R3.6) for the default --drain-timeout: above `forkover stop`'s own
 * bound (ExecStop='s --timeout, 40 s = the 30 s drain + 10, then SIGKILL and up to 5 s
 * more), so ExecStop= finishes its job before systemd steps in. A longer drain in the
 * app's command line moves both (deadlines.ts).
 */
export const DEFAULT_TIMEOUT_STOP_SEC = stopDeadlines({}).timeoutStopSec;

/**
 * Quote one argument for an Exec*= line (systemd.service(5) "Command lines"): `%` is a
 * specifier and `$` a variable in both quoted and bare words, so they are doubled;
 * words with anything but plain characters are double-quoted with `\` and `"` escaped.
 */
export function quoteExecArg(arg: string): string {
  if (/[\n\r]/.test(arg)) throw new TypeError(`a command argument cannot contain a line break: ${JSON.stringify(arg)}`);
  const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (arg !== '' && /^[A-Za-z0-9_@%+=:,./$-]+$/.test(arg)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function execLine(args: string[]): string {
  if (args.length === 0) throw new TypeError('the app command is empty: give it after "--", e.g. -- /usr/bin/node /srv/app/server.js');
  if (!path.isAbsolute(args[0]!)) {
    throw new TypeError(`systemd needs an absolute program path in ExecStart=, not ${JSON.stringify(args[0])}; e.g. /usr/bin/node`);
  }
  return args.map(quoteExecArg).join(' ');
}

/** The app's own flags that forkover adds: pidfile, title, log. */
function forkoverFlags(spec: InitScriptSpec, daemon: boolean): string[] {
  if (spec.command.length === 0) execLine([]); // the app's command must come first: say so
  return [...(daemon ? ['--daemon'] : []), '-p', spec.pidfile, '--name', spec.name, ...(spec.logfile ? ['-l', spec.logfile] : [])];
}

/** ExecStart=: the app's command with forkover's flags, or `forkover start` running it (launch.ts). */
function execStart(spec: InitScriptSpec, daemon: boolean): string {
  const flags = forkoverFlags(spec, daemon);
  const { program, before, after } = launch(spec);
  return execLine([program, ...before, ...flags, ...after]);
}

/**
 * The words of ExecReload=/ExecStop=: the absolute node, then the CLI (never its
 * `#!/usr/bin/env node` line: systemd's PATH may have no node, or another one; issue 16.3).
 */
function cli(spec: InitScriptSpec, ...args: string[]): string {
  return execLine([...forkoverWords(spec), ...args]);
}

/** How the unit says the start form (issue 14) launches the app, above its ExecStart=. */
function startFormLines(spec: InitScriptSpec, daemon: boolean): string[] {
  if (spec.start === undefined) return [];
  const nodeOptions = programIsNode(spec) && spec.command[1]?.startsWith('-') === true;
  return [
    '# The app imports nothing of forkover: `forkover start` runs its command (after "--")',
    '# with forkover preloaded, which takes over the app\'s own listen() (README, "Run an',
    '# existing app unchanged"). The app\'s words after "--" are passed on untouched.',
    ...(!daemon ? ['# It runs in this very process (the PID systemd started), as `node app.js` would.'] : []),
    ...(!daemon && nodeOptions
      ? ['# With Node options in the app\'s command, that needs Node >= 22.15 (process.execve);', '# on an older Node, use `forkover init-script systemd --start` (Type=forking) instead.']
      : []),
  ];
}

/** `RuntimeDirectory=` when the pidfile lives in /run/<dir>/ (the default /run/<name>/<name>.pid). */
function runtimeDirectory(spec: InitScriptSpec): string[] {
  const dir = path.dirname(spec.pidfile);
  if (path.dirname(dir) !== '/run') return [`# The pidfile's directory ${dir} must exist, owned by root or by the service user (R2.8).`];
  return [
    `# /run/${path.basename(dir)}/ is created at start (owned by User= if set, so an unprivileged`,
    '# daemon can write its pidfile: R10.4) and removed at stop.',
    `RuntimeDirectory=${path.basename(dir)}`,
  ];
}

/**
 * Where the app's output goes, said where an operator looks for it (issue 16.2). A
 * daemonized app has no terminal and a forking daemon's stdout never reaches the journal,
 * so the forking unit always has a log file (index.ts defaultLogfile); the foreground
 * units keep stdout and stderr on the journal unless --logfile was given.
 */
function logLines(spec: InitScriptSpec, daemon: boolean): string[] {
  const journal = `journalctl -u ${spec.name}.service`;
  if (spec.logfile === undefined) {
    return [
      `# The app's stdout and stderr go to the journal (${journal}): every`,
      '# generation, the ones a reload starts included, inherits them from this process.',
      'StandardOutput=journal',
      'StandardError=inherit',
    ];
  }
  const dir = path.dirname(spec.logfile);
  const lines = daemon
    ? [
        `# The app's stdout and stderr: ${spec.logfile} (${spec.logfileDefault ? 'the default;' : 'from'}`,
        `# init-script --logfile${spec.logfileDefault ? ' sets another' : ''}), appended by every generation (-l in ExecStart=).`,
        '# A daemon has no terminal, and the journal never sees a forking daemon\'s output; it',
        '# has the launcher\'s own lines (why a start failed, with the log\'s last lines):',
        `#   ${journal}`,
        '# Rotate the log with the snippet this prints:',
        `#   ${regenerateCommand({ ...spec, kind: 'logrotate', listen: undefined })}`,
      ]
    : [
        `# -l: every generation a reload starts appends its stdout and stderr to`,
        `# ${spec.logfile}; the process systemd starts writes its own to the journal`,
        `# (${journal}). Rotate the file with the snippet this prints:`,
        `#   ${regenerateCommand({ ...spec, kind: 'logrotate', listen: undefined })}`,
      ];
  if (path.dirname(dir) === '/var/log') {
    lines.push(
      `# /var/log/${path.basename(dir)}/ is created at start, owned by User= if set (an unprivileged`,
      '# daemon reopens its log at every handoff: R10.4); unlike /run/, it stays at stop.',
      `LogsDirectory=${path.basename(dir)}`,
    );
  } else if (dir !== path.dirname(spec.pidfile) || path.dirname(dir) !== '/run') {
    lines.push(`# The log's directory ${dir} must exist, owned by root or by the service user (R2.8).`);
  }
  return lines;
}

function userLines(spec: InitScriptSpec): string[] {
  if (spec.user === undefined) return [];
  return [
    '# Run as this user with systemd\'s own User=: systemd drops privileges before exec,',
    '# with initgroups() (supplementary groups kept), so every process of the service,',
    '# every later generation included, is unprivileged from its first instruction.',
    '# Node could only drop after start-up and libuv\'s spawn({uid}) loses the groups (R9.4).',
    '# Ports below 1024 need AmbientCapabilities=CAP_NET_BIND_SERVICE, or the',
    '# socket-activated pair (systemd binds as root and passes the socket).',
    `User=${spec.user}`,
    ...(spec.group !== undefined ? [`Group=${spec.group}`] : []),
  ];
}

function header(spec: InitScriptSpec, file: string, what: string): string[] {
  const { termS } = stopDeadlines(spec);
  return [
    `# ${file}: ${what}`,
    `# Generated by \`forkover init-script ${spec.kind}${spec.start ? ' --start' : ''}\`. Install it in /etc/systemd/system/,`,
    '# then: systemctl daemon-reload && systemctl enable --now ' + file,
    '#   systemctl reload  -> a handoff: the next generation takes over the listening sockets',
    '#                        without refusing a connection; exits non-zero (the old one',
    '#                        keeps serving) if the new version fails to start.',
    `#   systemctl stop    -> SIGTERM: stop accepting, finish in-flight requests, exit;`,
    `#                        SIGKILL only after ${termS} s.`,
    ...regenerateLines(spec),
  ];
}

function commonService(spec: InitScriptSpec, daemon: boolean): string[] {
  const { drainS, termS, timeoutStopSec } = stopDeadlines(spec);
  return [
    '# A handoff may be refused or roll back; the unit then stays active on the old PID.',
    `ExecReload=${cli(spec, 'reload', '-p', spec.pidfile)}`,
    '# Stop through forkover: SIGTERM to every generation (one replaced by a handoff may',
    `# still be draining), then wait until all have exited; SIGKILL after ${termS} s, ${termS - drainS} s`,
    `# past the app's own drain (${drainS} s: --drain-timeout + --stop-delay in ExecStart=, or`,
    '# their defaults), so a full drain is never cut short. Without ExecStop=, systemd (252)',
    '# would not wait for a main PID it took over from a handoff (it logs "Supervising',
    '# process … which is not our child") and would SIGKILL it at once.',
    `ExecStop=${cli(spec, 'stop', '-p', spec.pidfile, '--timeout', String(termS))}`,
    '# Restart after a crash, a kill -9 or a watchdog timeout; not after a clean stop.',
    'Restart=on-failure',
    '# SIGTERM reaches every process of the cgroup (KillMode=control-group, the default), so',
    '# a generation still draining after a handoff finishes too; SIGKILL after this (R3.6),',
    `# above ExecStop='s own bound (${termS} s + up to ${KILL_WAIT_S} s after its SIGKILL).`,
    `TimeoutStopSec=${timeoutStopSec}`,
    ...logLines(spec, daemon),
    ...runtimeDirectory(spec),
    ...userLines(spec),
  ];
}

/**
 * Type=forking (contracts §3): the app daemonizes itself; its launcher exits 0 only once
 * the daemon is ready and the pidfile names it, so systemd reads a PIDFile= that is
 * already right (R3.1), and every handoff rewrites it before the old PID exits (R3.3).
 */
export function renderSystemd(spec: InitScriptSpec): RenderedFile[] {
  const file = `${spec.name}.service`;
  const lines = [
    ...header(spec, file, 'a forkover daemon under systemd, Type=forking (contracts R3.1-R3.7)'),
    '# systemd itself calls PID files "avoided in modern projects": prefer',
    '# `forkover init-script systemd-notify` unless something needs the classic daemon.',
    '',
    '[Unit]',
    `Description=${spec.name} (forkover, Type=forking)`,
    'After=network.target',
    '',
    '[Service]',
    '# The launcher exits 0 only after the daemon is ready and the pidfile names it (R1.9).',
    'Type=forking',
    '# Re-read whenever the main PID exits: a handoff has written the new PID by then (R3.3).',
    `PIDFile=${spec.pidfile}`,
    ...startFormLines(spec, true),
    `# --name sets the process title (also what \`ps\` shows); -p is the pidfile above${spec.logfile !== undefined ? ', -l the log (below)' : ''}.`,
    `ExecStart=${execStart(spec, true)}`,
    '# `forkover reload` waits until the new generation serves and is named in the',
    '# pidfile (R3.5); `kill -USR2 $MAINPID` would return before anything happened.',
    ...commonService(spec, true),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];
  return [{ filename: file, content: lines.join('\n') }];
}

function notifyService(spec: InitScriptSpec, watchdogSec: number, socketUnit?: string): string[] {
  return [
    '[Service]',
    '# Foreground (no --daemon): systemd supervises the process it started (R4.1). It is',
    '# ready when it says READY=1 over NOTIFY_SOCKET, once it listens (R4.3).',
    'Type=notify',
    '# Only the main PID is heard. On a handoff the old generation sends',
    '# MAINPID=<new> + READY=1 itself, so the new one becomes main without widening this (R4.5).',
    '# forkover sends with the PID of the process that speaks (its native sd_notify',
    '# transport), which is what makes this work under User= too.',
    'NotifyAccess=main',
    '# forkover pings every WatchdogSec/2, and only while a request to its own listener',
    '# (or the app\'s onHealthCheck) is answered in time: a wedged event loop or a stuck',
    '# server stops the pings and systemd kills and restarts the service (R4.6). The',
    '# default check is an HTTP HEAD (a TLS handshake for https); a server that does not',
    ...(spec.start !== undefined
      ? ['# speak HTTP (an unmodified app cannot register daemon.onHealthCheck()): drop this line.']
      : ['# speak HTTP must register daemon.onHealthCheck(), or drop this line.']),
    `WatchdogSec=${watchdogSec}`,
    ...startFormLines(spec, false),
    `ExecStart=${execStart(spec, false)}`,
    '# -p above is not for systemd (no PIDFile=: MAINPID= tells it); it is how',
    '# `forkover reload` finds the generation to hand over and waits for the outcome.',
    ...commonService(spec, false),
    ...(socketUnit ? [`# Sockets come from ${socketUnit}; they survive every reload and restart.`] : []),
  ];
}

/**
 * Type=notify with a watchdog (contracts §4). Foreground; READY=1, RELOADING=1,
 * MAINPID=+READY=1 on a handoff, STOPPING=1, STATUS=.
 */
export function renderSystemdNotify(spec: InitScriptSpec, options: { watchdogSec?: number } = {}): RenderedFile[] {
  const file = `${spec.name}.service`;
  const lines = [
    ...header(spec, file, 'a forkover server under systemd, Type=notify with a watchdog (contracts R4.1-R4.7)'),
    '',
    '[Unit]',
    `Description=${spec.name} (forkover, Type=notify)`,
    'After=network.target',
    '',
    ...notifyService(spec, options.watchdogSec ?? DEFAULT_WATCHDOG_SEC),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];
  return [{ filename: file, content: lines.join('\n') }];
}

/**
 * A socket-activated pair (contracts §5): systemd owns the listening socket from boot,
 * queues connections while the service is down, and starts the service on the first
 * one. forkover adopts the socket (LISTEN_FDS) and keeps it at fd 3 in every generation.
 */
export function renderSystemdSocket(spec: InitScriptSpec, options: { watchdogSec?: number } = {}): RenderedFile[] {
  if (spec.listen === undefined || spec.listen === '') {
    throw new TypeError('systemd-socket needs --listen ADDR (the .socket unit\'s ListenStream=), e.g. --listen 8080 or --listen /run/app.sock');
  }
  if (/\s/.test(spec.listen)) throw new TypeError(`--listen takes one address without spaces, not ${JSON.stringify(spec.listen)}`);
  const socketFile = `${spec.name}.socket`;
  const serviceFile = `${spec.name}.service`;
  const socket = [
    `# ${socketFile}: the listening socket of ${serviceFile} (socket activation, contracts R5.1-R5.4)`,
    `# Generated by \`forkover init-script systemd-socket\`. Install both files, then:`,
    `#   systemctl daemon-reload && systemctl enable --now ${socketFile}`,
    '# systemd binds the address (as root, so ports below 1024 need no privilege in the',
    '# service) and starts the service on the first connection; connections made while',
    '# the service is stopped or restarting wait in the backlog instead of being refused.',
    '',
    '[Unit]',
    `Description=${spec.name} listening socket (forkover)`,
    '',
    '[Socket]',
    `ListenStream=${spec.listen}`,
    '# One service for all connections; forkover adopts the listening socket itself (R5.2).',
    'Accept=no',
    '# The name the service sees in LISTEN_FDNAMES. With this one socket, forkover gives it',
    '# to the app\'s only server whatever the app names it; with several sockets, set',
    '# FileDescriptorName= of each to the name the app passes to daemon.listen(server, { name }).',
    `FileDescriptorName=${spec.name}`,
    '',
    '[Install]',
    'WantedBy=sockets.target',
    '',
  ];
  const service = [
    ...header(spec, serviceFile, `a socket-activated forkover server (sockets from ${socketFile})`),
    '',
    '[Unit]',
    `Description=${spec.name} (forkover, socket-activated)`,
    `Requires=${socketFile}`,
    `After=${socketFile}`,
    '',
    ...notifyService(spec, options.watchdogSec ?? DEFAULT_WATCHDOG_SEC, socketFile),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];
  return [
    { filename: socketFile, content: socket.join('\n') },
    { filename: serviceFile, content: service.join('\n') },
  ];
}
