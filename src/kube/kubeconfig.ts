/**
 * Where the agent's Kubernetes credentials come from, in @kubernetes/client-node's order (the one
 * kured-ts always had): $KUBECONFIG (files joined by ':'), else ~/.kube/config, else the pod's
 * ServiceAccount. Every problem is a ConfigError naming the file, where its path came from and the fix.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { ConfigError } from '../core/errors.ts';
import { type ExecConfig, execCredential } from './exec-credential.ts';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Everything a request needs to reach and authenticate to the API server. */
export interface KubeConnection {
  /** `https://host:port` (a path prefix is kept). */
  server: string;
  /** Where this came from, for messages: `$KUBECONFIG (/path)`, `~/.kube/config (/path)`, `the in-cluster ServiceAccount`. */
  source: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  /** The Authorization header for the next request (a rotated token file is read again). */
  authorization(): Promise<string | undefined>;
}

export interface KubeconfigEnv {
  KUBECONFIG?: string;
  KUBERNETES_SERVICE_HOST?: string;
  KUBERNETES_SERVICE_PORT?: string;
}

export interface LoadOptions {
  home?: string;
  serviceAccountDir?: string;
  /** A context of the kubeconfig instead of its current-context (kubectl's --context). */
  context?: string;
}

/** Loads the connection as kubectl users and pods have it; throws ConfigError on anything unusable. */
export function loadConnection(env: KubeconfigEnv = process.env, opts: LoadOptions = {}): KubeConnection {
  const saDir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(delimiter).filter((f) => f !== '');
    return fromKubeconfig(files, '$KUBECONFIG', opts.context);
  }
  const home = opts.home ?? homedir();
  const defaultFile = join(home, '.kube', 'config');
  if (readable(defaultFile)) return fromKubeconfig([defaultFile], '~/.kube/config', opts.context);
  if (readable(join(saDir, 'token'))) return inCluster(env, saDir);
  throw new ConfigError(
    `no Kubernetes credentials: $KUBECONFIG is not set, ${defaultFile} does not exist and there is no ServiceAccount token at ${join(saDir, 'token')}; run kured-ts in a pod with a ServiceAccount, or set KUBECONFIG to a kubeconfig file`,
  );
}

function readable(file: string): boolean {
  try {
    readFileSync(file);
    return true;
  } catch {
    return false;
  }
}

function inCluster(env: KubeconfigEnv, dir: string): KubeConnection {
  const source = `the in-cluster ServiceAccount (${dir})`;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new ConfigError(
      `${source}: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set, so the API server is unknown; run in a pod (the kubelet sets them) or set KUBECONFIG`,
    );
  }
  const tokenFile = join(dir, 'token');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    source,
    ca: readOrFail(join(dir, 'ca.crt'), source, 'the cluster CA certificate'),
    insecureSkipTlsVerify: false,
    // A projected token is rotated by the kubelet: read it again for each request.
    authorization: async () => `Bearer ${(await readFile(tokenFile, 'utf8')).trim()}`,
  };
}

/** The parts of a kubeconfig we read; the field names are kubectl's. */
interface Kubeconfig {
  'current-context'?: string;
  clusters?: { name: string; cluster?: Record<string, unknown> }[];
  users?: { name: string; user?: Record<string, unknown> }[];
  contexts?: { name: string; context?: { cluster?: string; user?: string } }[];
}

interface Loaded {
  file: string;
  doc: Kubeconfig;
}

function fromKubeconfig(files: string[], origin: string, chosenContext?: string): KubeConnection {
  const source = `${origin} (${files.join(delimiter)})`;
  const loaded = files.map((file) => ({ file, doc: readKubeconfig(file, origin) }));
  // As kubectl merges: the first file that sets a value wins, entries by name from the first file that has them.
  const contextName = chosenContext || loaded.map((l) => l.doc['current-context']).find((c) => c);
  if (!contextName) {
    throw new ConfigError(
      `kubeconfig ${source} has no current-context; set one with kubectl config use-context`,
    );
  }
  const context = findEntry(loaded, 'contexts', contextName);
  if (!context?.entry.context) {
    throw new ConfigError(
      `kubeconfig ${source}: ${chosenContext ? 'context' : 'current-context'} "${contextName}" is not defined in contexts`,
    );
  }
  const clusterName = context.entry.context.cluster ?? '';
  const cluster = findEntry(loaded, 'clusters', clusterName);
  if (!cluster?.entry.cluster) {
    throw new ConfigError(
      `kubeconfig ${source}: context "${contextName}" names cluster "${clusterName}", which is not defined`,
    );
  }
  const c = cluster.entry.cluster;
  const server = typeof c.server === 'string' ? c.server : '';
  if (!/^https?:\/\//.test(server)) {
    throw new ConfigError(`kubeconfig ${source}: cluster "${clusterName}" has no https:// server address`);
  }
  const userName = context.entry.context.user;
  const user = userName ? findEntry(loaded, 'users', userName) : undefined;
  if (userName && !user) {
    throw new ConfigError(
      `kubeconfig ${source}: context "${contextName}" names user "${userName}", which is not defined`,
    );
  }
  const u = user?.entry.user ?? {};
  const where = (file: string) => ({ file, source });
  const ca = material(c, 'certificate-authority', where(cluster.file));
  const cert = material(u, 'client-certificate', where(user?.file ?? ''));
  const key = material(u, 'client-key', where(user?.file ?? ''));
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError(
      `kubeconfig ${source}: user "${userName}" has a client certificate without its key, or a key without its certificate`,
    );
  }
  const exec = u.exec as ExecConfig | undefined;
  const execAuth = exec ? execCredential(exec, `kubeconfig ${source}: user "${userName}"`) : undefined;
  if (u['auth-provider']) {
    const name = (u['auth-provider'] as { name?: string }).name ?? '?';
    throw new ConfigError(
      `kubeconfig ${source}: user "${userName}" uses the auth-provider "${name}", which Kubernetes removed and kured-ts does not support; use its exec credential plugin (kubectl's own migration path), a token or a client certificate`,
    );
  }
  return {
    server: server.replace(/\/+$/, ''),
    source,
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    insecureSkipTlsVerify: c['insecure-skip-tls-verify'] === true,
    ...(typeof c['tls-server-name'] === 'string' ? { tlsServerName: c['tls-server-name'] } : {}),
    authorization: authorization(u, user?.file ?? '', source, execAuth),
  };
}

function readKubeconfig(file: string, origin: string): Kubeconfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES'
          ? 'is not readable (permission denied)'
          : `cannot be read (${code})`;
    const fix =
      origin === '$KUBECONFIG'
        ? 'point KUBECONFIG at an existing kubeconfig file, or unset it to use ~/.kube/config or, in a pod, the ServiceAccount'
        : 'fix the file or remove it to use the in-cluster ServiceAccount';
    throw new ConfigError(`the kubeconfig ${file} (from ${origin}) ${why}; ${fix}`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    const first = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    throw new ConfigError(`the kubeconfig ${file} (from ${origin}) is not valid YAML: ${first}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(
      `the kubeconfig ${file} (from ${origin}) is not a kubeconfig (expected a mapping with clusters, users and contexts)`,
    );
  }
  return doc as Kubeconfig;
}

type Section = 'clusters' | 'users' | 'contexts';

function findEntry<S extends Section>(
  loaded: Loaded[],
  section: S,
  name: string,
): { file: string; entry: NonNullable<Kubeconfig[S]>[number] } | undefined {
  for (const { file, doc } of loaded) {
    const entries = (doc[section] ?? []) as NonNullable<Kubeconfig[S]>;
    const entry = entries.find((e) => e?.name === name);
    if (entry) return { file, entry };
  }
  return undefined;
}

/** `<field>-data` (base64) or `<field>` (a file, relative to the kubeconfig's directory, as kubectl resolves it). */
function material(
  obj: Record<string, unknown>,
  field: string,
  where: { file: string; source: string },
): Buffer | undefined {
  const data = obj[`${field}-data`];
  if (typeof data === 'string' && data !== '') return Buffer.from(data, 'base64');
  const path = obj[field];
  if (typeof path !== 'string' || path === '') return undefined;
  return readOrFail(resolvePath(path, where.file), `kubeconfig ${where.source}`, `its ${field}`);
}

function resolvePath(path: string, kubeconfigFile: string): string {
  return isAbsolute(path) ? path : join(dirname(kubeconfigFile), path);
}

function readOrFail(file: string, source: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      `${source}: ${what} ${file} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}; fix the path or the file`,
    );
  }
}

function authorization(
  u: Record<string, unknown>,
  file: string,
  source: string,
  exec: (() => Promise<string>) | undefined,
): () => Promise<string | undefined> {
  if (exec) return exec;
  if (typeof u.token === 'string' && u.token !== '') {
    const header = `Bearer ${u.token}`;
    return async () => header;
  }
  if (typeof u.tokenFile === 'string' && u.tokenFile !== '') {
    const tokenFile = resolvePath(u.tokenFile, file);
    readOrFail(tokenFile, `kubeconfig ${source}`, 'its tokenFile');
    return async () => `Bearer ${(await readFile(tokenFile, 'utf8')).trim()}`;
  }
  if (typeof u.username === 'string' && u.username !== '') {
    const header = `Basic ${Buffer.from(`${u.username}:${String(u.password ?? '')}`).toString('base64')}`;
    return async () => header;
  }
  return async () => undefined;
}
