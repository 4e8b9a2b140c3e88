// `$(VAR)` expansion, table-driven: the cases of the kubelet's own
// third_party/forked/golang/expansion tests (escapes, unterminated and empty
// references, nesting, a trailing `$`) plus multi-byte characters.
import t from 'tap';
import { expand, lookupIn, referencedNames } from '../../src/workload/expansion.js';

const vars = new Map([
  ['VAR_A', 'A'],
  ['VAR_B', 'B'],
  ['VAR_C', 'C'],
  ['VAR_REF', '$(VAR_A)'],
  ['VAR_EMPTY', ''],
]);
const lookup = lookupIn(vars);

const CASES: [string, string, string][] = [
  ['whole string', '$(VAR_A)', 'A'],
  ['repeat', '$(VAR_A)-$(VAR_A)', 'A-A'],
  ['multiple', '$(VAR_A)-$(VAR_B)', 'A-B'],
  ['beginning', '$(VAR_A)-1', 'A-1'],
  ['middle', '___$(VAR_B)___', '___B___'],
  ['end', '___$(VAR_C)', '___C'],
  ['a value is not expanded again', '$(VAR_REF)', '$(VAR_A)'],
  ['empty value', '--$(VAR_EMPTY)--', '----'],
  ['unresolvable stays as written', '$(UNKNOWN)', '$(UNKNOWN)'],
  ['unresolvable among others', '$(VAR_A)$(UNKNOWN)$(VAR_B)', 'A$(UNKNOWN)B'],
  ['escaped', '$$(VAR_B)', '$(VAR_B)'],
  ['escaped twice', '$$$$(VAR_B)', '$$(VAR_B)'],
  ['escape then reference', '$$$(VAR_A)', '$A'],
  ['bare $$', '$$', '$'],
  ['trailing $', 'foo$', 'foo$'],
  ['lone $', '$', '$'],
  ['$ then other char', '$VAR_A', '$VAR_A'],
  ['$ then space', 'a $ b', 'a $ b'],
  ['unterminated reference', '$(VAR_A', '$(VAR_A'],
  ['unterminated after a resolved one', '$(VAR_A)$(VAR_B', 'A$(VAR_B'],
  ['$( at the end', 'foo$(', 'foo$('],
  ['empty name', '$()', '$()'],
  ['nested: the name ends at the first )', '$(VAR_$(VAR_A))', '$(VAR_$(VAR_A))'],
  ['name with spaces does not resolve', '$( VAR_A )', '$( VAR_A )'],
  ['$ before a multi-byte character', '$ü$(VAR_A)', '$üA'],
  ['$ before an astral character', '$😀$(VAR_A)', '$😀A'],
  ['no references', 'plain text', 'plain text'],
  ['empty input', '', ''],
];

t.test('expand follows the kubelet', async (t) => {
  for (const [name, input, want] of CASES) t.equal(expand(input, lookup), want, name);
});

t.test('the first context that defines a name wins (env before Service links)', async (t) => {
  const env = new Map([['X', 'from-env']]);
  const services = new Map([
    ['X', 'from-service'],
    ['Y', 'service-only'],
  ]);
  t.equal(expand('$(X) $(Y) $(Z)', lookupIn(env, services)), 'from-env service-only $(Z)');
});

t.test('referencedNames lists what would be looked up', async (t) => {
  t.same(referencedNames('$(A)$$(B)$(C'), ['A']);
  t.same(referencedNames('$(A)-$(B)-$(A)'), ['A', 'B', 'A']);
});
