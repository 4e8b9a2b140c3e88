// `$(VAR)` expansion in an env entry's `value`, by the kubelet's rules
// (third_party/forked/golang/expansion in Kubernetes): `$$` is a literal `$`,
// `$(NAME)` is replaced when NAME resolves and left as written when it does
// not, `$(` without a closing `)` and `$` before any other character stay as
// they are, and a `$` at the very end is kept.

/** Looks a name up; undefined when it does not resolve. */
export type Lookup = (name: string) => string | undefined;

/** The kubelet's MappingFuncFor: the first context that defines the name wins. */
export function lookupIn(...contexts: ReadonlyMap<string, string>[]): Lookup {
  return (name) => {
    for (const vars of contexts) {
      const value = vars.get(name);
      if (value !== undefined) return value;
    }
    return undefined;
  };
}

/** The names `$(…)` references in `input` would look up (in order, repeats kept). */
export function referencedNames(input: string): string[] {
  const names: string[] = [];
  expand(input, (name) => {
    names.push(name);
    return undefined;
  });
  return names;
}

export function expand(input: string, lookup: Lookup): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const rest = input.slice(cursor + 1);
    let advance: number;
    if (rest[0] === '$') {
      out += '$';
      advance = 1;
    } else if (rest[0] === '(') {
      const close = rest.indexOf(')', 1);
      if (close === -1) {
        // The kubelet writes "$(" and carries on after the "(".
        out += '$(';
        advance = 1;
      } else {
        const name = rest.slice(1, close);
        out += lookup(name) ?? `$(${name})`;
        advance = close + 1;
      }
    } else {
      // Any other character (a whole code point, as the kubelet decodes a rune) is kept with its "$".
      const ch = String.fromCodePoint(rest.codePointAt(0) as number);
      out += `$${ch}`;
      advance = ch.length;
    }
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}
