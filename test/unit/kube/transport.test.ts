/**
 * The transport and the kubeconfig loading against a loopback HTTPS server of our own (not a fake
 * Kubernetes: it answers what each case needs): TLS verification, credentials, deadlines, errors,
 * keep-alive and streaming.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { ConfigError } from '../../../src/core/errors.ts';
import { connect } from '../../../src/kube/client.ts';
import {
  ApiError,
  isNotFound,
  NoAnswerError,
  retryAfterMs,
  statusMessage,
} from '../../../src/kube/errors.ts';
import { loadConnection } from '../../../src/kube/kubeconfig.ts';
import { type Throttled, throttleWaitMs } from '../../../src/kube/transport.ts';
import { createPki, type Pki } from '../../../testbed/src/pki.ts';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

let dir: string;
let pki: Pki;
let server: https.Server;
let url: string;
let handler: Handler;
let connections = 0;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kured-ts-transport-'));
  pki = await createPki(path.join(dir, 'pki'));
  // A client certificate signed by the same CA, for the client-certificate case.
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=kured-ts-client',
      '-CA',
      pki.caFile,
      '-CAkey',
      path.join(dir, 'pki', 'ca.key'),
      '-keyout',
      path.join(dir, 'client.key'),
      '-out',
      path.join(dir, 'client.crt'),
    ],
    { stdio: 'ignore' },
  );
  server = https.createServer(
    {
      cert: fs.readFileSync(pki.certFile),
      key: fs.readFileSync(pki.keyFile),
      ca: fs.readFileSync(pki.caFile),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => handler(req, body, res));
    },
  );
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  url = `https://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function json(res: ServerResponse, status: number, obj: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(obj));
}

/** Writes a kubeconfig; `cluster` and `user` are merged into a token + CA-file default. */
function kubeconfig(name: string, cluster: object = {}, user: object = { token: 'secret-token' }): string {
  const file = path.join(dir, name);
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: url, 'certificate-authority': pki.caFile, ...cluster } }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  };
  fs.writeFileSync(file, JSON.stringify(doc));
  return file;
}

describe('transport', () => {
  it('verifies the server with the kubeconfig CA and sends the token, accept and user agent', async () => {
    let seen: IncomingMessage | undefined;
    handler = (req, _body, res) => {
      seen = req;
      json(res, 200, { kind: 'Node', metadata: { name: 'n1' } });
    };
    const kube = connect({ KUBECONFIG: kubeconfig('token.yaml') });
    const node = await kube.get<{ metadata: { name: string } }>('/api/v1/nodes/n1', { labelSelector: 'a=b' });
    assert.equal(node.metadata.name, 'n1');
    assert.equal(seen?.headers.authorization, 'Bearer secret-token');
    assert.equal(seen?.headers['user-agent'], 'kured-ts');
    assert.equal(seen?.headers.accept, 'application/json');
    assert.equal(seen?.url, '/api/v1/nodes/n1?labelSelector=a%3Db');
    kube.transport.close();
  });

  it('refuses a server its CA does not vouch for, saying where to fix it', async () => {
    handler = (_req, _body, res) => json(res, 200, {});
    const file = kubeconfig('no-ca.yaml', { 'certificate-authority': undefined });
    const kube = connect({ KUBECONFIG: file });
    const err = await kube.get('/api/v1/nodes').catch((e: unknown) => e);
    assert.ok(err instanceof NoAnswerError);
    assert.match(
      statusMessage(err),
      new RegExp(
        `^cannot reach the Kubernetes API server at ${url}: .*certificate.*; check the cluster's CA certificate and server address in \\$KUBECONFIG \\(${file}\\)$`,
      ),
    );
  });

  it('skips verification only with insecure-skip-tls-verify', async () => {
    handler = (_req, _body, res) => json(res, 200, { ok: true });
    const kube = connect({
      KUBECONFIG: kubeconfig('insecure.yaml', {
        'certificate-authority': undefined,
        'insecure-skip-tls-verify': true,
      }),
    });
    assert.deepEqual(await kube.get('/version'), { ok: true });
    kube.transport.close();
  });

  it('authenticates with a client certificate and key (files, or -data in base64)', async () => {
    handler = (req, _body, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      json(res, 200, { cn: (req.socket as TLSSocket).authorized ? peer.subject?.CN : 'unauthorized' });
    };
    const fromFiles = connect({
      KUBECONFIG: kubeconfig(
        'cert.yaml',
        {},
        { 'client-certificate': 'client.crt', 'client-key': 'client.key' },
      ),
    });
    assert.deepEqual(await fromFiles.get('/x'), { cn: 'kured-ts-client' });
    const b64 = (f: string) => fs.readFileSync(path.join(dir, f)).toString('base64');
    const inline = connect({
      KUBECONFIG: kubeconfig(
        'cert-data.yaml',
        { 'certificate-authority': undefined, 'certificate-authority-data': b64('pki/ca.crt') },
        {
          'client-certificate-data': b64('client.crt'),
          'client-key-data': b64('client.key'),
        },
      ),
    });
    assert.deepEqual(await inline.get('/x'), { cn: 'kured-ts-client' });
    fromFiles.transport.close();
    inline.transport.close();
  });

  it('turns an error status into an ApiError with the Status, the code and the headers', async () => {
    handler = (_req, _body, res) =>
      json(
        res,
        429,
        {
          kind: 'Status',
          code: 429,
          message: "Cannot evict pod as it would violate the pod's disruption budget.",
        },
        { 'retry-after': '7' },
      );
    const kube = connect({ KUBECONFIG: kubeconfig('token.yaml') });
    const err = await kube.create('/api/v1/namespaces/a/pods/b/eviction', {}).catch((e: unknown) => e);
    assert.ok(err instanceof ApiError);
    assert.equal(err.code, 429);
    assert.equal(retryAfterMs(err), 7000);
    assert.equal(statusMessage(err), "Cannot evict pod as it would violate the pod's disruption budget.");
    assert.equal(
      err.message,
      "POST /api/v1/namespaces/a/pods/b/eviction: HTTP 429: Cannot evict pod as it would violate the pod's disruption budget.",
    );
    handler = (_req, _body, res) => json(res, 404, { kind: 'Status', code: 404, reason: 'NotFound' });
    assert.equal(isNotFound(await kube.get('/api/v1/nodes/gone').catch((e: unknown) => e)), true);
    kube.transport.close();
  });

  it("sends a busy server's 429 again after the wait it asked for, and tells of each wait", async () => {
    let calls = 0;
    handler = (_req, _body, res) => {
      calls++;
      if (calls > 1) return json(res, 200, { metadata: { resourceVersion: '3' } });
      // kube-apiserver's in-flight limit answers in plain text, with Retry-After.
      res.writeHead(429, { 'content-type': 'text/plain', 'retry-after': '1' });
      res.end('Too many requests, please try again later.\n');
    };
    const told: Throttled[] = [];
    const kube = connect({ KUBECONFIG: kubeconfig('token.yaml') }, { onThrottled: (t) => told.push(t) });
    const t0 = Date.now();
    const obj = await kube.mergePatch<{ metadata: { resourceVersion: string } }>('/api/v1/nodes/n1', {});
    assert.equal(obj.metadata.resourceVersion, '3');
    assert.equal(calls, 2);
    assert.equal(told.length, 1);
    assert.equal(told[0]!.request, 'PATCH /api/v1/nodes/n1');
    assert.equal(told[0]!.toldMs, 1000);
    assert.ok(told[0]!.waitMs >= 1000 && told[0]!.waitMs <= 2000, `waited ${told[0]!.waitMs} ms`);
    assert.ok(Date.now() - t0 >= 1000, 'sent again only after the wait');
    kube.transport.close();
  });

  it("gives the 429 to the caller once its waits are spent, and never waits on an eviction's", async () => {
    let calls = 0;
    handler = (_req, _body, res) => {
      calls++;
      res.writeHead(429, { 'content-type': 'text/plain', 'retry-after': '1' });
      res.end('Too many requests, please try again later.\n');
    };
    const kube = connect({ KUBECONFIG: kubeconfig('token.yaml') }, { throttleRetries: 0 });
    const err = await kube.get('/api/v1/nodes/n1').catch((e: unknown) => e);
    assert.ok(err instanceof ApiError && err.code === 429);
    assert.equal(statusMessage(err), 'HTTP 429: Too many requests, please try again later.');
    assert.equal(calls, 1);
    kube.transport.close();
    const evicting = connect({ KUBECONFIG: kubeconfig('token.yaml') });
    const refused = await evicting
      .create('/api/v1/namespaces/a/pods/b/eviction', {})
      .catch((e: unknown) => e);
    assert.ok(refused instanceof ApiError && refused.code === 429);
    assert.equal(calls, 2, 'an eviction is not sent again by the transport');
    evicting.transport.close();
  });

  it('waits at least what the server asked, doubling per 429, spread up to as much again, at most 30 s', () => {
    assert.equal(
      throttleWaitMs(1000, 1, () => 0),
      1000,
    );
    assert.equal(
      throttleWaitMs(1000, 1, () => 1),
      2000,
    );
    assert.equal(
      throttleWaitMs(undefined, 1, () => 0),
      1000,
    );
    assert.equal(
      throttleWaitMs(3000, 1, () => 0.5),
      4500,
    );
    assert.equal(
      throttleWaitMs(1000, 3, () => 0),
      4000,
    );
    assert.equal(
      throttleWaitMs(1000, 10, () => 1),
      30_000,
    );
  });

  it('sends a merge patch as application/merge-patch+json', async () => {
    let seen: { type?: string; method?: string; body?: string } = {};
    handler = (req, body, res) => {
      seen = { type: req.headers['content-type'], method: req.method, body };
      json(res, 200, { metadata: { resourceVersion: '2' } });
    };
    const kube = connect({ KUBECONFIG: kubeconfig('token.yaml') });
    await kube.mergePatch('/api/v1/nodes/n1', { spec: { unschedulable: null } });
    assert.deepEqual(seen, {
      type: 'application/merge-patch+json',
      method: 'PATCH',
      body: '{"spec":{"unschedulable":null}}',
    });
    kube.transport.close();
  });

  it('says that the server did not answer in time when a request outlives its deadline', async () => {
    handler = () => {}; // never answers
    const kube = connect({ KUBECONFIG: kubeconfig('token.yaml') }, { timeoutMs: 200 });
    const err = await kube.get('/api/v1/nodes/n1').catch((e: unknown) => e);
    assert.ok(err instanceof NoAnswerError && err.timedOut);
    assert.equal(
      statusMessage(err),
      `the Kubernetes API server at ${url} did not answer GET /api/v1/nodes/n1 in time (0.2 s)`,
    );
    kube.transport.close();
  });

  it('keeps one connection alive across requests', async () => {
    handler = (_req, _body, res) => json(res, 200, {});
    const kube = connect({ KUBECONFIG: kubeconfig('token.yaml') });
    const before = connections;
    for (let i = 0; i < 5; i++) await kube.get('/x');
    assert.equal(connections - before, 1);
    kube.transport.close();
  });

  it('streams whole lines as they arrive, until the caller aborts', async () => {
    handler = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"ADDED","object":{"a":');
      setTimeout(() => res.write('1}}\n{"type":"MODIFIED"'), 20);
      setTimeout(() => res.write(',"object":{"a":2}}\n'), 40);
    };
    const kube = connect({ KUBECONFIG: kubeconfig('token.yaml') });
    const stop = new AbortController();
    const { status, lines } = await kube.stream('/api/v1/nodes?watch=true', stop.signal);
    assert.equal(status, 200);
    const got: string[] = [];
    await assert.rejects(async () => {
      for await (const line of lines) {
        got.push(line);
        if (got.length === 2) stop.abort();
      }
    });
    assert.deepEqual(got, ['{"type":"ADDED","object":{"a":1}}', '{"type":"MODIFIED","object":{"a":2}}']);
    kube.transport.close();
  });
});

describe('credentials', () => {
  it('reads the in-cluster ServiceAccount token again for each request (projected tokens rotate)', async () => {
    const sa = path.join(dir, 'sa');
    fs.mkdirSync(sa, { recursive: true });
    fs.copyFileSync(pki.caFile, path.join(sa, 'ca.crt'));
    fs.writeFileSync(path.join(sa, 'token'), 'first\n');
    const seen: string[] = [];
    handler = (req, _body, res) => {
      seen.push(req.headers.authorization ?? '');
      json(res, 200, {});
    };
    const port = new URL(url).port;
    const kube = connect(
      { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port },
      { home: path.join(dir, 'no-home'), serviceAccountDir: sa },
    );
    assert.equal(kube.transport.source, `the in-cluster ServiceAccount (${sa})`);
    await kube.get('/x');
    fs.writeFileSync(path.join(sa, 'token'), 'second\n');
    await kube.get('/x');
    assert.deepEqual(seen, ['Bearer first', 'Bearer second']);
    kube.transport.close();
  });

  it('runs an exec credential plugin and sends its token', async () => {
    const plugin = path.join(dir, 'plugin.sh');
    fs.writeFileSync(
      plugin,
      `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-'$WHO'"}}'\n`,
      { mode: 0o755 },
    );
    let seen = '';
    handler = (req, _body, res) => {
      seen = req.headers.authorization ?? '';
      json(res, 200, {});
    };
    const kube = connect({
      KUBECONFIG: kubeconfig(
        'exec.yaml',
        {},
        {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: plugin,
            env: [{ name: 'WHO', value: 'exec' }],
          },
        },
      ),
    });
    await kube.get('/x');
    assert.equal(seen, 'Bearer from-exec');
    kube.transport.close();
  });
});

describe('kubeconfig problems are one line naming the file, its origin and the fix', () => {
  const home = () => path.join(dir, 'no-home');
  it('a $KUBECONFIG that does not exist', () => {
    assert.throws(
      () => loadConnection({ KUBECONFIG: '/nonexistent' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message ===
          'the kubeconfig /nonexistent (from $KUBECONFIG) does not exist; point KUBECONFIG at an existing kubeconfig file, or unset it to use ~/.kube/config or, in a pod, the ServiceAccount',
    );
  });
  it('no kubeconfig at all and no ServiceAccount', () => {
    assert.throws(
      () => loadConnection({}, { home: home(), serviceAccountDir: path.join(dir, 'no-sa') }),
      /^ConfigError: no Kubernetes credentials: \$KUBECONFIG is not set, .*no-home\/\.kube\/config does not exist and there is no ServiceAccount token at .*no-sa\/token; run kured-ts in a pod with a ServiceAccount, or set KUBECONFIG to a kubeconfig file$/,
    );
  });
  it('~/.kube/config is used when $KUBECONFIG is unset', () => {
    const h = path.join(dir, 'home');
    fs.mkdirSync(path.join(h, '.kube'), { recursive: true });
    fs.copyFileSync(kubeconfig('token.yaml'), path.join(h, '.kube', 'config'));
    fs.copyFileSync(pki.caFile, path.join(h, '.kube', 'ca.crt'));
    const conn = loadConnection({}, { home: h });
    assert.equal(conn.source, `~/.kube/config (${path.join(h, '.kube', 'config')})`);
    assert.equal(conn.server, url);
  });
  it('--context picks another context than the current one, and names it when it is missing', () => {
    const file = kubeconfig('contexts.yaml');
    assert.equal(loadConnection({ KUBECONFIG: file }, { context: 'x' }).server, url);
    assert.throws(
      () => loadConnection({ KUBECONFIG: file }, { context: 'nope' }),
      /: context "nope" is not defined in contexts$/,
    );
  });
  it('an auth-provider user is refused with the way out', () => {
    const file = kubeconfig('gcp.yaml', {}, { 'auth-provider': { name: 'gcp' } });
    assert.throws(
      () => loadConnection({ KUBECONFIG: file }),
      /uses the auth-provider "gcp", which Kubernetes removed and kured-ts does not support; use its exec credential plugin/,
    );
  });
  it('a missing CA file, a missing context, YAML that does not parse', () => {
    assert.throws(
      () =>
        loadConnection({ KUBECONFIG: kubeconfig('bad-ca.yaml', { 'certificate-authority': 'nope.crt' }) }),
      new RegExp(`its certificate-authority ${dir}/nope.crt does not exist; fix the path or the file$`),
    );
    const noContext = path.join(dir, 'no-context.yaml');
    fs.writeFileSync(noContext, 'apiVersion: v1\nkind: Config\nclusters: []\n');
    assert.throws(
      () => loadConnection({ KUBECONFIG: noContext }),
      /has no current-context; set one with kubectl config use-context$/,
    );
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'clusters: [\n');
    assert.throws(
      () => loadConnection({ KUBECONFIG: bad }),
      /^ConfigError: the kubeconfig .*bad\.yaml \(from \$KUBECONFIG\) is not valid YAML: /,
    );
  });
});
