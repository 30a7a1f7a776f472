/** A local HTTP receiver for notification tests: records each request and answers from a script. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { pino } from 'pino';
import type { Logger } from '../../../src/core/log.ts';
import type { NotifyConfig } from '../../../src/notify/index.ts';

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: () => unknown;
}

export interface Receiver {
  baseUrl: string;
  requests: Received[];
  /** Statuses to answer with, in order; then 200. */
  answers: Array<{ status: number; body?: string }>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const requests: Received[] = [];
  const answers: Receiver['answers'] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        json: () => JSON.parse(body),
      });
      const answer = answers.shift() ?? {
        status: 200,
        body: req.url?.includes('chat.postMessage') ? '{"ok":true}' : 'ok',
      };
      res.writeHead(answer.status);
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    answers,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** A pino logger whose lines the test can read. */
export function captureLogger(): { logger: Logger; lines: () => string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
  return { logger, lines: () => lines };
}

/** A notification config with everything empty but what the test sets. */
export function notifyConfig(over: Partial<NotifyConfig>): NotifyConfig {
  return {
    notifyUrl: '',
    notifyUrlFile: '',
    slackHookUrl: '',
    messageTemplateDrain: '',
    messageTemplateReboot: '',
    messageTemplateUncordon: '',
    messageTemplateDrainFailed: '',
    messageTemplateBlocked: '',
    messageTemplateHalted: '',
    ...over,
  };
}
