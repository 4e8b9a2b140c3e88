// docs/errors.md is the single list of error codes: every KVPN_ERR_* code
// raised anywhere in src/ has an entry there, and every entry is still raised.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function sourceCodes(): Set<string> {
  const codes = new Set<string>();
  for (const entry of readdirSync(join(ROOT, 'src'), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !/\.(ts|c)$/.test(entry.name)) continue;
    const text = readFileSync(join(entry.parentPath, entry.name), 'utf8');
    // Only codes written out in full (prefix mentions like `KVPN_ERR_*` in comments are not codes).
    for (const m of text.matchAll(/KVPN_ERR_[A-Z][A-Z0-9_]*[A-Z0-9]\b/g)) codes.add(m[0]);
  }
  return codes;
}

t.test('every code in src/ is documented, and every documented code exists', async (t) => {
  const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `(KVPN_ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1] as string));
  const raised = sourceCodes();
  t.ok(raised.size > 40, `found ${raised.size} codes in src/`);
  t.same([...raised].filter((c) => !documented.has(c)).sort(), [], 'missing from docs/errors.md');
  t.same([...documented].filter((c) => !raised.has(c)).sort(), [], 'documented but no longer raised');
});
