/** E-mail through nodemailer to a minimal SMTP server on loopback that records the dialogue. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createNotifier, type NotifyConfig } from '../../../src/notify/index.ts';
import { captureLogger, notifyConfig } from './receiver.ts';
import { startSmtp } from './smtp-server.ts';

const config = (notifyUrl: string): NotifyConfig => notifyConfig({ notifyUrl });

describe('smtp notifications', () => {
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  before(async () => {
    smtp = await startSmtp();
  });
  after(() => smtp.server.close());

  it('sends a mail with auth, sender, recipients and subject', async () => {
    const { logger, lines } = captureLogger();
    const n = createNotifier(
      config(
        `smtp://kured:pa%24%24word@127.0.0.1:${smtp.port}/?fromAddress=kured@example.com&toAddresses=ops@example.com,oncall@example.com&subject=Cluster+prod&encryption=None`,
      ),
      logger,
      { retryDelaysMs: [] },
    );
    n.notify({ kind: 'drainFailed', node: 'n1', detail: 'PDB db allows 0 disruptions' });
    await n.flush();
    assert.equal(smtp.mails.length, 1, lines().join(''));
    const [mail] = smtp.mails;
    assert.ok(mail);
    const auth = mail.commands.find((c) => c.startsWith('AUTH PLAIN'))?.split(' ')[2] ?? '';
    assert.equal(Buffer.from(auth, 'base64').toString(), '\0kured\0pa$$word');
    assert.ok(mail.commands.includes('MAIL FROM:<kured@example.com>'));
    assert.deepEqual(
      mail.commands.filter((c) => c.startsWith('RCPT')),
      ['RCPT TO:<ops@example.com>', 'RCPT TO:<oncall@example.com>'],
    );
    assert.match(mail.data, /^Subject: Cluster prod$/m);
    assert.match(mail.data, /^Draining node n1 failed: PDB db allows 0 disruptions$/m);
  });

  it('a refused recipient is logged once (permanent) without the password', async () => {
    const refusing = await startSmtp(true);
    try {
      const { logger, lines } = captureLogger();
      const n = createNotifier(
        config(
          `smtp://kured:hunter2secret@127.0.0.1:${refusing.port}/?fromAddress=a@example.com&toAddresses=b@example.com&encryption=None`,
        ),
        logger,
        { retryDelaysMs: [5, 5] },
      );
      n.notify({ kind: 'drain', node: 'n1' });
      await n.flush();
      const failures = lines().filter((l) => l.includes('"msg":"notification failed"'));
      assert.equal(failures.length, 1);
      assert.equal(JSON.parse(failures[0] ?? '{}').attempts, 1);
      assert.ok(!lines().join('').includes('hunter2secret'));
    } finally {
      refusing.server.close();
    }
  });
});
