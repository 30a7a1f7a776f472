import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { TestbedError } from './errors.ts';

const execFileAsync = promisify(execFile);

export interface Pki {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Signs and verifies ServiceAccount tokens (apiserver) and legacy token secrets (KCM). */
  serviceAccountKeyFile: string;
}

// Explicit extensions: the system openssl.cnf would mark the serving cert as a CA too.
const OPENSSL_CNF = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = kured-ts-testbed
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
`;

/** A throwaway CA, a serving certificate for 127.0.0.1/localhost, and the service-account key (EC P-256: fast). */
export async function createPki(dir: string): Promise<Pki> {
  fs.mkdirSync(dir, { recursive: true });
  const p = (f: string) => path.join(dir, f);
  fs.writeFileSync(p('openssl.cnf'), OPENSSL_CNF);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650'];
  const base = ['req', '-x509', '-config', p('openssl.cnf'), ...ec];
  await openssl([
    ...base,
    '-extensions',
    'ca_ext',
    '-subj',
    '/CN=kured-ts-testbed-ca',
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.crt'),
  ]);
  await openssl([
    ...base,
    '-extensions',
    'server_ext',
    '-CA',
    p('ca.crt'),
    '-CAkey',
    p('ca.key'),
    '-subj',
    '/CN=kube-apiserver',
    '-keyout',
    p('apiserver.key'),
    '-out',
    p('apiserver.crt'),
  ]);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  fs.writeFileSync(p('sa.key'), privateKey.export({ type: 'sec1', format: 'pem' }), { mode: 0o600 });
  return {
    caFile: p('ca.crt'),
    certFile: p('apiserver.crt'),
    keyFile: p('apiserver.key'),
    serviceAccountKeyFile: p('sa.key'),
  };
}

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT')
      throw new TestbedError('testbed: `openssl` is not on PATH; install it (apt-get install openssl)');
    throw new TestbedError(`testbed: openssl failed: ${(e.stderr ?? e.message).trim().split('\n')[0]}`);
  }
}
