import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import { classifyEvictionError } from '../../../src/drain/eviction-refusal.ts';

// Status bodies as kube-apiserver's eviction subresource writes them (pkg/registry/core/pod/storage/eviction.go).
function apiError(code: number, status: object, headers: Record<string, string> = {}) {
  return new ApiException<string>(code, 'Unknown API Status Code!', JSON.stringify(status), headers);
}
const tooMany = (cause: string) => ({
  kind: 'Status',
  code: 429,
  reason: 'TooManyRequests',
  message: "Cannot evict pod as it would violate the pod's disruption budget.",
  details: { causes: [{ reason: 'DisruptionBudget', message: cause }] },
});

test('404: already gone', () => {
  assert.deepEqual(classifyEvictionError(apiError(404, { reason: 'NotFound' }), 'ns'), { kind: 'gone' });
});

test('429 names the budget and what it needs', () => {
  assert.deepEqual(
    classifyEvictionError(
      apiError(429, tooMany('The disruption budget web needs 2 healthy pods and has 2 currently')),
      'shop',
    ),
    {
      kind: 'budget',
      cause: 'PodDisruptionBudget shop/web allows no disruption: needs 2 healthy pods and has 2',
      budgets: ['shop/web'],
      retryAfterMs: undefined,
    },
  );
});

test('429 while the budget is being processed carries Retry-After 10 s', () => {
  assert.deepEqual(
    classifyEvictionError(
      apiError(429, tooMany('The disruption budget web is still being processed by the server.'), {
        'retry-after': '10',
      }),
      'shop',
    ),
    {
      kind: 'budget',
      cause: 'PodDisruptionBudget shop/web is still being processed by the server',
      budgets: ['shop/web'],
      retryAfterMs: 10_000,
    },
  );
});

test('429 without a cause falls back to the message', () => {
  const refusal = classifyEvictionError(apiError(429, { message: 'slow down' }), 'ns');
  assert.deepEqual(refusal, { kind: 'budget', cause: 'slow down', budgets: [], retryAfterMs: undefined });
});

test('500 more than one budget is permanent', () => {
  const refusal = classifyEvictionError(
    apiError(500, {
      code: 500,
      reason: 'InternalError',
      message:
        'Internal error occurred: This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
    }),
    'ns',
  );
  assert.equal(refusal.kind, 'multipleBudgets');
});

test('403 NamespaceTerminating vs other 403s', () => {
  const terminating = apiError(403, {
    reason: 'Forbidden',
    message:
      'pods "p" is forbidden: unable to create new content in namespace ns because it is being terminated',
    details: { causes: [{ reason: 'NamespaceTerminating', message: 'namespace ns is being terminated' }] },
  });
  assert.equal(classifyEvictionError(terminating, 'ns').kind, 'namespaceTerminating');
  assert.equal(
    classifyEvictionError(apiError(403, { message: 'pdb disruptions allowed is negative' }), 'ns').kind,
    'transient',
  );
});

test('409, other 4xx, 5xx and network errors', () => {
  assert.equal(
    classifyEvictionError(apiError(409, { message: 'Precondition failed: UID' }), 'ns').kind,
    'conflict',
  );
  assert.deepEqual(classifyEvictionError(apiError(422, { message: 'invalid' }), 'ns'), {
    kind: 'rejected',
    cause: 'invalid',
  });
  assert.equal(classifyEvictionError(apiError(503, { message: 'unavailable' }), 'ns').kind, 'transient');
  assert.deepEqual(classifyEvictionError(new Error('connect ECONNREFUSED 127.0.0.1:6443'), 'ns'), {
    kind: 'transient',
    cause: 'connect ECONNREFUSED 127.0.0.1:6443',
  });
});

// kube-apiserver wraps a webhook's denial as `admission webhook "<name>" denied the request: <message>`,
// with the webhook's own code (403 when it gave none).
test('an admission webhook denial is retried whatever its code, with the message as the cause', () => {
  const message =
    'admission webhook "eviction.strimzi.io" denied the request: the operator moves this broker';
  for (const code of [400, 403, 422, 500]) {
    assert.deepEqual(
      classifyEvictionError(apiError(code, { code, message }), 'ns'),
      {
        kind: 'denied',
        cause: message,
      },
      `HTTP ${code}`,
    );
  }
});

test('a ValidatingAdmissionPolicy denial is retried too', () => {
  const message =
    "pods \"web-0\" is forbidden: ValidatingAdmissionPolicy 'no-evict' with binding 'no-evict-b' denied request: wait";
  assert.equal(classifyEvictionError(apiError(403, { message }), 'ns').kind, 'denied');
});
