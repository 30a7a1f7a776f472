/** A minimal SMTP server on loopback that records each mail's dialogue (notification tests, unit and e2e). */
import { createServer, type Server } from 'node:net';

export interface Mail {
  commands: string[];
  data: string;
}

export async function startSmtp(
  rejectRcpt = false,
): Promise<{ port: number; mails: Mail[]; server: Server }> {
  const mails: Mail[] = [];
  const server = createServer((socket) => {
    const mail: Mail = { commands: [], data: '' };
    let inData = false;
    let buffer = '';
    // A client may vanish mid-dialogue (an agent killed by its node's reboot): not the server's error.
    socket.on('error', () => {});
    socket.write('220 test ESMTP\r\n');
    socket.on('data', (chunk) => {
      buffer += chunk.toString();
      let i = buffer.indexOf('\r\n');
      while (i >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        i = buffer.indexOf('\r\n');
        if (inData) {
          if (line === '.') {
            inData = false;
            mails.push(mail);
            socket.write('250 queued\r\n');
          } else mail.data += `${line}\n`;
          continue;
        }
        mail.commands.push(line);
        const verb = line.split(' ')[0]?.toUpperCase();
        if (verb === 'EHLO') socket.write('250-test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n');
        else if (verb === 'AUTH') socket.write('235 ok\r\n');
        else if (verb === 'RCPT' && rejectRcpt) socket.write('550 no such user\r\n');
        else if (verb === 'DATA') {
          inData = true;
          socket.write('354 go\r\n');
        } else if (verb === 'QUIT') socket.end('221 bye\r\n');
        else socket.write('250 ok\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, mails, server };
}
