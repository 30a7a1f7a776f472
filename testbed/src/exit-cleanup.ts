import fs from 'node:fs';
import { killGroup } from './process.ts';

/** What must not outlive this process: process groups to kill and the temp dir to remove. */
export interface Leftovers {
  dir: string;
  pgids: () => number[];
}

const live = new Set<Leftovers>();
let installed = false;

/** Synchronous, so it also runs from `process.on('exit')`, where nothing asynchronous can. */
function cleanupAll(): void {
  for (const l of live) {
    for (const pgid of l.pgids()) killGroup(pgid, 'SIGKILL');
    fs.rmSync(l.dir, { recursive: true, force: true });
  }
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  // A program that handles the signal itself stops its clusters gracefully; 'exit' still backs it up.
  if (process.listenerCount(signal) > 1) return;
  cleanupAll();
  process.removeListener(signal, onSignal);
  // Keep the default meaning of the signal: terminate.
  process.kill(process.pid, signal);
}

/** Kills and removes `l` when this process exits or is interrupted, even if stop() is never called. */
export function removeOnExit(l: Leftovers): () => void {
  if (!installed) {
    installed = true;
    process.on('exit', cleanupAll);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
  }
  live.add(l);
  return () => live.delete(l);
}
