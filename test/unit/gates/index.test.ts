import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/core/errors.ts';
import type { Gate, GateVerdict } from '../../../src/core/ports.ts';
import { createGates, evaluateGates, type GateConfig } from '../../../src/gates/index.ts';

const base: GateConfig = {
  nodeId: 'node-1',
  rebootDays: ['su', 'mo', 'tu', 'we', 'th', 'fr', 'sa'],
  startTime: '0:00',
  endTime: '23:59:59',
  timeZone: 'UTC',
  prometheusUrl: '',
  alertFilterRegexp: undefined,
  alertFilterMatchOnly: false,
  alertFiringOnly: false,
  blockingPodSelector: [],
  prometheusBearerTokenFile: '',
  prometheusBasicAuthFile: '',
  prometheusCaFile: '',
};

function fixed(name: string, verdict: GateVerdict | Error, asked: string[]): Gate {
  return {
    name,
    async check() {
      asked.push(name);
      if (verdict instanceof Error) throw verdict;
      return verdict;
    },
  };
}

describe('createGates', () => {
  it('builds only the window by default', () => {
    assert.deepEqual(
      createGates(base, {}).map((g) => g.name),
      ['window'],
    );
  });
  it('orders window, Prometheus, pods like kured', () => {
    const kube = {} as never;
    const gates = createGates(
      { ...base, prometheusUrl: 'http://prom:9090', blockingPodSelector: ['app=db'] },
      { kube },
    );
    assert.deepEqual(
      gates.map((g) => g.name),
      ['window', 'prometheus', 'pods'],
    );
  });
  it('surfaces bad window settings as ConfigError', () => {
    assert.throws(() => createGates({ ...base, startTime: 'teatime' }, {}), ConfigError);
    assert.throws(() => createGates({ ...base, timeZone: 'Nowhere/Land' }, {}), ConfigError);
  });
});

describe('evaluateGates', () => {
  const now = new Date('2026-11-23T10:00:00Z');
  it('is open when every gate is open', async () => {
    const asked: string[] = [];
    const verdict = await evaluateGates(
      [fixed('a', { open: true }, asked), fixed('b', { open: true }, asked)],
      now,
    );
    assert.deepEqual(verdict, { open: true });
    assert.deepEqual(asked, ['a', 'b']);
  });
  it('the first closed gate wins and later gates are not asked', async () => {
    const asked: string[] = [];
    const verdict = await evaluateGates(
      [
        fixed('a', { open: true }, asked),
        fixed('b', { open: false, reason: 'because b' }, asked),
        fixed('c', { open: false, reason: 'because c' }, asked),
      ],
      now,
    );
    assert.deepEqual(verdict, { open: false, reason: 'because b', gate: 'b' });
    assert.deepEqual(asked, ['a', 'b']);
  });
  it('a gate that throws counts as closed', async () => {
    const verdict = await evaluateGates([fixed('boom', new Error('kaput'), [])], now);
    assert.deepEqual(verdict, { open: false, reason: 'the boom gate failed: kaput', gate: 'boom' });
  });
  it('the real window gate closes outside its hours', async () => {
    const [window] = createGates({ ...base, rebootDays: ['sa'] }, {});
    const verdict = await evaluateGates(window ? [window] : [], now);
    assert.deepEqual(verdict, {
      open: false,
      reason: 'outside the reboot window (sa 00:00-23:59:59 UTC)',
      gate: 'window',
      retryAt: new Date('2026-11-28T00:00:00Z'), // the next Saturday
    });
  });
});
