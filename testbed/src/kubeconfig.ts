import fs from 'node:fs';
import { stringify } from 'yaml';

export interface KubeconfigIdentity {
  server: string;
  caFile: string;
  token: string;
  user: string;
}

/** Writes a kubeconfig file (for kubectl and for agents) that authenticates with a bearer token. */
export function writeKubeconfig(file: string, id: KubeconfigIdentity): void {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'testbed', cluster: { server: id.server, 'certificate-authority': id.caFile } }],
    users: [{ name: id.user, user: { token: id.token } }],
    contexts: [{ name: `${id.user}@testbed`, context: { cluster: 'testbed', user: id.user } }],
    'current-context': `${id.user}@testbed`,
  };
  fs.writeFileSync(file, stringify(doc), { mode: 0o600 });
}
