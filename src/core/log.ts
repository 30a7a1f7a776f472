import type { pino } from 'pino';

/** The one logger type every room writes to (pino's); src/observe/log.ts makes it. */
export type Logger = pino.Logger;
