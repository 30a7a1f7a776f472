import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_TEMPLATES, renderMessage } from '../../../src/notify/templates.ts';

describe('message templates', () => {
  it("keeps kured's defaults for drain, reboot and uncordon", () => {
    assert.equal(renderMessage(DEFAULT_TEMPLATES, { kind: 'drain', node: 'n1' }), 'Draining node n1');
    assert.equal(renderMessage(DEFAULT_TEMPLATES, { kind: 'reboot', node: 'n1' }), 'Rebooting node n1');
    assert.equal(
      renderMessage(DEFAULT_TEMPLATES, { kind: 'uncordon', node: 'n1' }),
      'Node n1 rebooted & uncordoned successfully!',
    );
  });
  it('fills the cause into the failure and blocked templates', () => {
    assert.equal(
      renderMessage(DEFAULT_TEMPLATES, {
        kind: 'drainFailed',
        node: 'n1',
        detail: 'PDB db-pdb allows 0 disruptions',
      }),
      'Draining node n1 failed: PDB db-pdb allows 0 disruptions',
    );
    assert.equal(
      renderMessage(DEFAULT_TEMPLATES, {
        kind: 'blocked',
        node: 'n2',
        detail: '1 active alert in Prometheus: X',
      }),
      'Reboot of node n2 is blocked: 1 active alert in Prometheus: X',
    );
  });
  it('reads %% as a literal percent and drops values without a placeholder', () => {
    const t = { ...DEFAULT_TEMPLATES, drain: '100%% sure: draining %s', blocked: 'Blocked' };
    assert.equal(renderMessage(t, { kind: 'drain', node: 'n1' }), '100% sure: draining n1');
    assert.equal(renderMessage(t, { kind: 'blocked', node: 'n1', detail: 'x' }), 'Blocked');
  });
});
