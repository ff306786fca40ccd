// A TypeScript ESM app using forkover's public API, type-checked with --strict against
// the shipped declarations (test/integration/modules.test.ts). Not run.
import * as http from 'node:http';
import * as net from 'node:net';
import { Command } from 'commander';
import {
  type DaemonState,
  type DrainHook,
  type ForkoverErrorCode,
  type ForkoverOptions,
  type HandoffOutcome,
  type ListenAddress,
  type UpgradeResult,
  DEFAULT_DRAIN_TIMEOUT_S,
  Daemon,
  EXIT,
  ForkoverError,
  STATUS_EXIT,
  addForkoverOptions,
  assertSupportedPlatform,
  forkover,
} from 'forkover';

assertSupportedPlatform(process.platform);
const program: Command = addForkoverOptions(new Command('consumer')).option('--port <n>', 'port', Number, 8080).parse();
const daemon: Daemon = await forkover(program);
const fromOptions: Promise<Daemon> = forkover({ daemon: false, drainTimeout: DEFAULT_DRAIN_TIMEOUT_S } satisfies ForkoverOptions);
void fromOptions;

const address: ListenAddress = { port: program.opts<{ port: number }>().port, host: '127.0.0.1', name: 'http' };
daemon.listen(http.createServer((_req, res) => res.end('ok\n')), address).listen(net.createServer(), { path: '/tmp/consumer.sock', name: 'unix' });

const hook: DrainHook = async ({ reason, deadline }) => {
  const why: 'stop' | 'handoff' = reason;
  const ms: number = deadline - Date.now();
  void why;
  void ms;
};
const undo: () => void = daemon.onDrain(hook);
undo();
await daemon.ready();

const result: UpgradeResult = await daemon.upgrade();
if (result.outcome === 'ok') {
  const pid: number = result.pid;
  void pid;
} else {
  const reason: string = result.reason;
  void reason;
}
const exitCode: number = await daemon.exited;
void exitCode;
const addresses: { name: string; address: string }[] = daemon.addresses;
const launchDir: string = daemon.settings.cwd; // where relative paths of the app resolve
const hasParent: boolean = daemon.hasParent;
void launchDir;
void hasParent;
void addresses;

try {
  assertSupportedPlatform('win32');
} catch (err) {
  if (err instanceof ForkoverError) {
    const code: ForkoverErrorCode = err.code;
    const pid: number | undefined = err.details.pid;
    void code;
    void pid;
  }
}
const codes: number[] = [EXIT.OK, EXIT.FAILURE, EXIT.NOT_RUNNING, STATUS_EXIT.RUNNING, STATUS_EXIT.NOT_RUNNING];
void codes;

function lastOutcome(state: DaemonState): HandoffOutcome['outcome'] | undefined {
  return state.lastHandoff?.outcome;
}
void lastOutcome;

// The types reject misuse (each line must stay an error):
// @ts-expect-error a port is a number
daemon.listen(http.createServer(), { port: '8080' });
// @ts-expect-error drain hooks get reason 'stop' | 'handoff', not a string to compare freely
daemon.onDrain(({ reason }) => reason === 'restart');
// @ts-expect-error not a ForkoverErrorCode
const bogus: ForkoverErrorCode = 'NO_SUCH_CODE';
void bogus;
