/**
 * A kubeconfig user's `exec` credential plugin (aws eks get-token, gke-gcloud-auth-plugin, kubelogin):
 * run it, use the bearer token it prints (an ExecCredential), and run it again when that expires.
 * Client certificates from a plugin are not supported: one clear line says so.
 */
import { execFile } from 'node:child_process';
import { ConfigError } from '../core/errors.ts';

export interface ExecConfig {
  command?: string;
  args?: string[];
  env?: { name: string; value: string }[] | null;
  apiVersion?: string;
}

interface ExecCredentialStatus {
  token?: string;
  clientCertificateData?: string;
  expirationTimestamp?: string;
}

/** Plugins' tokens usually live 15 min; without an expiry, ask again after this. */
const DEFAULT_LIFETIME_MS = 60_000;

/** Returns a function giving the current `Bearer` header; `who` names the kubeconfig user in errors. */
export function execCredential(exec: ExecConfig, who: string): () => Promise<string> {
  if (!exec.command) throw new ConfigError(`${who}: its exec credential plugin has no command`);
  const command = exec.command;
  let cached: { header: string; until: number } | undefined;
  return async () => {
    if (cached && Date.now() < cached.until) return cached.header;
    const status = await run(command, exec, who);
    if (!status.token) {
      throw new ConfigError(
        `${who}: the exec plugin ${command} returned ${status.clientCertificateData ? 'a client certificate, which kured-ts does not support' : 'no token'}; use a plugin that issues tokens, a token or a client certificate in the kubeconfig`,
      );
    }
    const expires = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) : Number.NaN;
    // Renew a little before the plugin's expiry so that no request carries an expired token.
    const until = Number.isNaN(expires) ? Date.now() + DEFAULT_LIFETIME_MS : expires - 10_000;
    cached = { header: `Bearer ${status.token}`, until };
    return cached.header;
  };
}

function run(command: string, exec: ExecConfig, who: string): Promise<ExecCredentialStatus> {
  const env = { ...process.env };
  for (const e of exec.env ?? []) env[e.name] = e.value;
  env.KUBERNETES_EXEC_INFO = JSON.stringify({
    apiVersion: exec.apiVersion ?? 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential',
    spec: { interactive: false },
  });
  return new Promise((resolve, reject) => {
    execFile(
      command,
      exec.args ?? [],
      { env, timeout: 60_000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          const detail = (stderr.trim().split('\n')[0] ?? '') || err.message.split('\n')[0];
          reject(new ConfigError(`${who}: its exec credential plugin ${command} failed: ${detail}`));
          return;
        }
        try {
          resolve((JSON.parse(stdout) as { status?: ExecCredentialStatus }).status ?? {});
        } catch {
          reject(
            new ConfigError(
              `${who}: its exec credential plugin ${command} did not print an ExecCredential (JSON)`,
            ),
          );
        }
      },
    );
  });
}
