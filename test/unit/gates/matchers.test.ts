import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/core/errors.ts';
import { matchesAll, matchesAny, parseMatchers } from '../../../src/gates/matchers.ts';
import { silenceMatchers } from '../../../src/gates/silence.ts';

describe('Alertmanager matchers', () => {
  it('reads the four operators, quoted and bare values, with or without braces', () => {
    assert.deepEqual(parseMatchers('{severity=~"critical|page", team!="db"}', '--x'), [
      { name: 'severity', op: '=~', value: 'critical|page' },
      { name: 'team', op: '!=', value: 'db' },
    ]);
    assert.deepEqual(parseMatchers('env=prod,job!~node.*', '--x'), [
      { name: 'env', op: '=', value: 'prod' },
      { name: 'job', op: '!~', value: 'node.*' },
    ]);
    assert.deepEqual(parseMatchers('msg="a \\"quoted\\", comma"', '--x'), [
      { name: 'msg', op: '=', value: 'a "quoted", comma' },
    ]);
  });

  it('matches as Alertmanager does: anchored regexes, a missing label is the empty string', () => {
    const m = parseMatchers('severity=~"critical|page"', '--x');
    assert.equal(matchesAll({ severity: 'page' }, m), true);
    assert.equal(matchesAll({ severity: 'paged' }, m), false, 'anchored');
    assert.equal(matchesAll({}, parseMatchers('team=""', '--x')), true);
    assert.equal(matchesAll({}, parseMatchers('team!~"db|web"', '--x')), true);
    assert.equal(matchesAll({ team: 'db' }, parseMatchers('team!~"db|web"', '--x')), false);
    const lists = [parseMatchers('severity=page', '--x'), parseMatchers('team=db', '--x')];
    assert.equal(matchesAny({ team: 'db' }, lists), true);
    assert.equal(matchesAny({ team: 'web' }, lists), false);
    assert.equal(matchesAny({ team: 'web' }, []), true);
  });

  it('rejects malformed matchers with one line naming the flag', () => {
    for (const bad of ['severity', 'severity=~"("', '=x', 'a="b', 'a=b,', '{a=b', '']) {
      assert.throws(
        () => parseMatchers(bad, '--alert-matchers'),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.message.startsWith('--alert-matchers: cannot read') &&
          !e.message.includes('\n'),
        bad,
      );
    }
  });

  it('templates {{node}} for silences, escaped inside a regex', () => {
    assert.deepEqual(silenceMatchers(['instance=~"{{node}}(:.*)?"', 'node="{{ node }}"'], 'n1.example'), [
      [{ name: 'instance', op: '=~', value: 'n1\\.example(:.*)?' }],
      [{ name: 'node', op: '=', value: 'n1.example' }],
    ]);
    assert.throws(
      () => silenceMatchers(['instance=~"{{node}}("'], 'n1'),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message.startsWith('--silence-during-reboot: cannot read "instance=~\\"{{node}}(\\""'),
    );
  });
});
