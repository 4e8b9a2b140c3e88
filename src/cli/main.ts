#!/usr/bin/env node
// Entry point of `kvpn` and `kubectl-vpn` (package.json bins). Everything
// happens in runCli; this file only connects it to the process.
import { runCli } from './app.js';
import { processIo } from './io.js';

process.exitCode = await runCli(process.argv.slice(2), processIo(), process.argv[1]);
