// Session ids: stable for a context on one machine, distinct across machines
// (two developers' "staging" contexts must not name the same relay), and
// always a valid Kubernetes name part.
import t from 'tap';
import { sessionId } from '../../src/host/paths.js';
import { validSessionId } from '../../src/relay/manifest.js';

t.test('one context, one machine: the same id every time', async (t) => {
  t.equal(sessionId('staging', 'alice-laptop'), sessionId('staging', 'alice-laptop'));
  t.equal(sessionId('staging'), sessionId('staging'), 'this machine by default');
});

t.test('the same context name on two machines: two sessions in the cluster', async (t) => {
  t.not(sessionId('staging', 'alice-laptop'), sessionId('staging', 'bob-laptop'));
  t.match(sessionId('staging', 'alice-laptop'), /^staging-[0-9a-f]{8}$/);
});

t.test('any context name gives a valid object name part', async (t) => {
  for (const context of ['staging', 'arn:aws:eks:eu-west-1:123:cluster/prod', '', '---', 'Ä'.repeat(80)])
    t.ok(validSessionId(sessionId(context, 'host')), JSON.stringify(context));
});
