/**
 * deploy/manifests is the chart rendered by scripts/render-manifests.ts, never edited by hand.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { helmBinary, MANIFESTS_DIR, renderVariant, VARIANTS } from '../../../scripts/render-manifests.ts';
import { agentContainer, find, parseObjects } from './render.ts';

const STALE = 'stale: run `node scripts/render-manifests.ts` and commit deploy/';
let bin: string;
before(async () => {
  bin = await helmBinary();
});

function committed(file: string): string {
  return fs.readFileSync(path.join(MANIFESTS_DIR, file), 'utf8');
}

describe('plain manifests', () => {
  for (const variant of VARIANTS) {
    it(`deploy/manifests/${variant.file} is up to date with the chart`, () => {
      assert.equal(
        committed(variant.file),
        renderVariant(bin, variant),
        `deploy/manifests/${variant.file} is ${STALE}`,
      );
    });
  }

  it('command variant: hostPID and privileged, for nsenter into the host', () => {
    const objs = parseObjects(committed('kured-ts.yaml'));
    assert.equal(find(objs, 'DaemonSet').spec.template.spec.hostPID, true);
    assert.equal(agentContainer(objs).securityContext.privileged, true);
    assert.ok(!agentContainer(objs).args.includes('--reboot-method=signal'));
  });

  it('signal variant: nothing beyond CAP_KILL, read-only root filesystem', () => {
    const objs = parseObjects(committed('kured-ts-signal.yaml'));
    const c = agentContainer(objs);
    assert.equal(find(objs, 'DaemonSet').spec.template.spec.hostPID, true);
    assert.ok(c.args.includes('--reboot-method=signal'));
    assert.ok(!c.args.some((a: string) => a.startsWith('--reboot-command')));
    assert.deepEqual(c.securityContext, {
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsUser: 0,
      capabilities: { drop: ['ALL'], add: ['KILL'] },
    });
  });

  it('carries no Helm release bookkeeping', () => {
    for (const variant of VARIANTS)
      assert.doesNotMatch(committed(variant.file), /managed-by: Helm|helm\.sh\/chart/);
  });
});
