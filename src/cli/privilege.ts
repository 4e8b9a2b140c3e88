// Getting root for `up` and crash cleanup: without root, kvpn re-runs itself
// through sudo with a prompt that says why (src/sessions/privilege.ts hands
// the environment over); without sudo, the error explains how to run it.
import { findSudo, rerunAsRoot } from '../sessions/index.js';
import type { CliIo } from './io.js';

/** Re-runs `kvpn <command> <args>` as root through sudo; resolves with its exit code. */
export async function reexecWithSudo(command: string, args: string[], why: string, io: CliIo): Promise<number> {
  const sudo = findSudo(command, why, io.env);
  io.err(`kvpn ${command} needs root ${why}; asking sudo (your Kubernetes credentials stay yours).\n`);
  return rerunAsRoot(sudo, command, args, io.env);
}
