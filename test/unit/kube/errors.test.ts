import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import {
  hasStatusCause,
  isConflict,
  isNotFound,
  isTooManyRequests,
  retryAfterMs,
  statusMessage,
} from '../../../src/kube/errors.ts';

function apiError(code: number, status: object | string, headers: Record<string, string> = {}) {
  const body = typeof status === 'string' ? status : JSON.stringify(status);
  return new ApiException<string>(code, 'Unknown API Status Code!', body, headers);
}

const pdb429 = {
  kind: 'Status',
  code: 429,
  reason: 'TooManyRequests',
  message: "Cannot evict pod as it would violate the pod's disruption budget.",
  details: {
    causes: [
      {
        reason: 'DisruptionBudget',
        message: 'The disruption budget web needs 2 healthy pods and has 2 currently',
      },
    ],
  },
};

test('classifies by HTTP code', () => {
  assert.equal(isNotFound(apiError(404, {})), true);
  assert.equal(isConflict(apiError(409, {})), true);
  assert.equal(isTooManyRequests(apiError(429, pdb429)), true);
  assert.equal(isNotFound(new Error('connect ECONNREFUSED')), false);
  assert.equal(isNotFound(undefined), false);
});

test('reads Retry-After from the header, then from the Status', () => {
  assert.equal(retryAfterMs(apiError(429, pdb429, { 'retry-after': '10' })), 10_000);
  assert.equal(retryAfterMs(apiError(429, pdb429, { 'retry-after': '0' })), 0);
  assert.equal(retryAfterMs(apiError(429, pdb429)), undefined);
  assert.equal(retryAfterMs(apiError(429, { details: { retryAfterSeconds: 3 } })), 3000);
  assert.equal(retryAfterMs(new Error('x')), undefined);
});

test('statusMessage is one line with the causes that add information', () => {
  assert.equal(
    statusMessage(apiError(429, pdb429)),
    "Cannot evict pod as it would violate the pod's disruption budget. " +
      '(The disruption budget web needs 2 healthy pods and has 2 currently)',
  );
  assert.equal(
    statusMessage(apiError(502, '<html>\nbad gateway\n</html>')),
    'HTTP 502: <html> bad gateway </html>',
  );
  assert.equal(
    statusMessage(new Error('connect ECONNREFUSED 127.0.0.1:6443\n    at x')),
    'connect ECONNREFUSED 127.0.0.1:6443',
  );
});

test('finds a Status cause by type', () => {
  const terminating = apiError(403, {
    details: { causes: [{ reason: 'NamespaceTerminating', message: 'ns is terminating' }] },
  });
  assert.equal(hasStatusCause(terminating, 'NamespaceTerminating'), true);
  assert.equal(hasStatusCause(apiError(429, pdb429), 'NamespaceTerminating'), false);
});

test('a timed-out fetch (DOMException TimeoutError, code 23) is not taken for an HTTP status', () => {
  const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
  assert.equal(timeout.code, 23);
  assert.equal(statusMessage(timeout), 'the Kubernetes API server did not answer in time');
  assert.equal(isNotFound(timeout), false);
});
