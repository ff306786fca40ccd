#!/usr/bin/env node
import { main } from '../dist/cli.js';
// No top-level await: under `forkover start` the app runs in this process and main()
// never settles, which a pending top-level await would turn into exit code 13.
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
