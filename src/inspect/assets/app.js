// The inspection page: one view at a time, fetched as JSON and drawn with
// DOM calls (never HTML parsing: names, headers and bodies come from the
// network). /api/events says which view changed; the shown one is
// refetched, at most one fetch in flight and at most 2 a second.

const VIEWS = ['overview', 'connections', 'dns', 'intercepts', 'environment'];
// A change is shown within 0.75 s (the 250 ms event tick, then this); a busy tunnel costs the
// page at most two fetches a second, each redrawing only the rows that changed. The browser's
// CPU comes out of the tunnel's on a small laptop, so no more than that.
const MIN_REFRESH_MS = 500;
/** Rows a view draws; the counts above the table cover every match. */
const ROWS_SHOWN = 250;
let current = 'overview';
let versions = {};
let shownVersion = {};
let inFlight = false;
let again = false;
let lastFetch = 0;
let selectedRequest = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = -1;
  do {
    value /= 1024;
    unit++;
  } while (value >= 1024 && unit < units.length - 1);
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function ms(n) {
  if (n === null || n === undefined) return '';
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60000) return `${(n / 1000).toFixed(1)} s`;
  return `${Math.floor(n / 60000)} min ${Math.round((n % 60000) / 1000)} s`;
}

function clock(at) {
  const d = new Date(at);
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

function badge(text, kind) {
  return el('span', { class: `badge ${kind || text}` }, text);
}

function query(formId) {
  const form = document.getElementById(formId);
  const params = new URLSearchParams();
  for (const [key, value] of new FormData(form)) if (value) params.set(key, value);
  return params.toString();
}

async function getJson(path) {
  const response = await fetch(path, { credentials: 'same-origin' });
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
  return response.json();
}

/**
 * Puts `rows` in `tbody` with as few DOM changes as it takes: new rows arrive at the top and old
 * ones leave at the bottom, so a refresh usually inserts a few and removes a few.
 */
function replaceRows(tbody, rows) {
  const wanted = new Set(rows);
  for (const child of [...tbody.children]) if (!wanted.has(child)) child.remove();
  let at = tbody.firstElementChild;
  for (const row of rows) {
    if (row === at) at = at.nextElementSibling;
    else tbody.insertBefore(row, at);
  }
}

// ---- Overview ---------------------------------------------------------------

function facts(pairs) {
  return el(
    'dl',
    { class: 'facts' },
    pairs.filter(Boolean).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]),
  );
}

function drawOverview(data) {
  const s = data.status || {};
  document.getElementById('session-name').textContent = s.context ? `${s.context} · ${s.namespace}` : '';
  const t = s.traffic || {};
  const errs = t.dialErrors || {};
  const view = document.getElementById('overview');
  const parts = [
    el('h2', {}, 'Session'),
    facts([
      ['state', badge(s.state || '?', s.state === 'running' ? 'ok' : 'bad')],
      ['context', `${s.context} (cluster ${s.cluster}, ${s.server})`],
      ['namespace', s.namespace],
      ['up for', ms((s.uptimeSeconds || 0) * 1000)],
      [
        'relay',
        s.relay
          ? [
              `${s.relay.pod} `,
              badge(s.relay.connected ? 'connected' : 'reconnecting', s.relay.connected ? 'ok' : 'bad'),
            ]
          : '–',
      ],
      ['TUN', s.device],
      [
        'DNS',
        s.dns
          ? `${s.dns.mode}${s.dns.server ? `, server ${s.dns.server}` : ''}${s.dns.clusterDomain ? `, zone ${s.dns.clusterDomain}` : ''}`
          : '–',
      ],
      [
        'routes',
        el('span', { class: 'mono' }, (s.routes || []).map((r) => `${r.cidr} (${r.source})`).join(', ') || 'none'),
      ],
      [
        'traffic',
        `${t.tcpOpen ?? 0} TCP open (${t.tcpTotal ?? 0} in all), ${t.udpFlows ?? 0} UDP flows; ↑ ${bytes(t.bytesToCluster || 0)} ↓ ${bytes(t.bytesFromCluster || 0)}`,
      ],
      [
        'failed dials',
        `${errs.refused ?? 0} refused, ${errs.unreachable ?? 0} unreachable, ${errs.timeout ?? 0} timed out, ${errs.error ?? 0} other`,
      ],
      [
        'recorded',
        `${data.recorded.flows.total} connections (${data.recorded.flows.open} open), ${data.recorded.dns} DNS queries, ${data.recorded.requests} intercepted requests`,
      ],
    ]),
  ];
  const warnings = [...(s.degradations || []).map((d) => `degraded: ${d.what}`), ...(s.warnings || [])];
  if (warnings.length)
    parts.push(
      el('h2', {}, 'Warnings'),
      el(
        'ul',
        { class: 'plain warning' },
        warnings.map((w) => el('li', {}, w)),
      ),
    );
  if ((s.exposures || []).length)
    parts.push(
      el('h2', {}, 'Exposed to the cluster'),
      el(
        'ul',
        { class: 'plain' },
        s.exposures.map((e) => el('li', {}, `${e.address} (${e.protocol}) → localhost:${e.localPort}`)),
      ),
    );
  if ((s.intercepts || []).length)
    parts.push(
      el('h2', {}, 'Intercepts'),
      el(
        'ul',
        { class: 'plain' },
        s.intercepts.map((i) => el('li', {}, interceptLine(i))),
      ),
    );
  view.replaceChildren(...parts);
}

function interceptLine(i) {
  return [
    `${i.name}: ${i.service}.${i.namespace}:${i.servicePort} → localhost:${i.localPort} `,
    i.filter ? `when ${i.filter} ` : '(whole) ',
    badge(i.registered ? 'registered' : 'reconnecting', i.registered ? 'ok' : 'bad'),
    ` ${i.routed.toLaptop} here, ${i.routed.toPods} to the pods`,
  ];
}

// ---- Connections ------------------------------------------------------------

function drawConnections(data) {
  const ns = document.querySelector('#connections-filters select[name=namespace]');
  const chosen = ns.value;
  const have = new Set([...ns.options].map((o) => o.value));
  for (const name of data.namespaces) if (!have.has(name)) ns.append(el('option', { value: name }, name));
  ns.value = chosen;
  const states = document.querySelector('#connections-filters select[name=state]');
  const known = new Set([...states.options].map((o) => o.value));
  for (const state of data.states) if (!known.has(state)) states.append(el('option', { value: state }, state));
  document.getElementById('connections-counts').textContent =
    `${data.matched} matching, ${data.flows.length} shown · ${data.total} recorded, ${data.open} open` +
    (data.dropped ? ` · ${data.dropped} older ones dropped` : '') +
    (data.untracked ? ` · ${data.untracked} not recorded (too many open)` : '');
  const seen = new Set();
  const rows = data.flows.map((f) => {
    seen.add(f.id);
    return flowRow(f);
  });
  for (const id of flowRows.keys()) if (!seen.has(id)) flowRows.delete(id);
  replaceRows(document.querySelector('#connections-table tbody'), rows);
}

// A row is rebuilt only when what it shows changed: most rows are of ended flows, which never
// change, so a refresh touches the open ones and the new ones (the browser's CPU is the tunnel's).
const flowRows = new Map();

function flowRow(f) {
  const key = `${f.state}|${f.detail}|${f.dialMs}|${f.bytesToCluster}|${f.bytesFromCluster}|${Math.floor(f.durationMs / 100)}`;
  const kept = flowRows.get(f.id);
  if (kept && kept.key === key) return kept.tr;
  const tr = el(
    'tr',
    { 'data-flow-id': f.id, 'data-state': f.state },
    el('td', { class: 'mono' }, clock(f.openedAt)),
    el('td', {}, f.proto),
    el('td', { class: 'name' }, f.name || ''),
    el('td', { class: 'mono destination' }, f.destination),
    el('td', {}, f.owner || ''),
    el('td', { class: 'state' }, badge(f.state)),
    el('td', { class: 'detail' }, f.detail || ''),
    el('td', { class: 'num' }, ms(f.dialMs)),
    el('td', { class: 'num sent' }, bytes(f.bytesToCluster)),
    el('td', { class: 'num received' }, bytes(f.bytesFromCluster)),
    el('td', { class: 'num' }, ms(f.durationMs)),
  );
  flowRows.set(f.id, { tr, key });
  return tr;
}

// ---- DNS --------------------------------------------------------------------

function drawDns(data) {
  document.getElementById('dns-counts').textContent =
    `${data.matched} matching, ${data.entries.length} shown · ${data.total} recorded` +
    (data.dropped ? ` · ${data.dropped} older ones dropped` : '');
  replaceRows(
    document.querySelector('#dns-table tbody'),
    data.entries.map((q) =>
      el(
        'tr',
        { 'data-query-id': q.id, 'data-rcode': q.rcode },
        el('td', { class: 'mono' }, clock(q.at)),
        el('td', { class: 'name mono' }, q.name),
        el('td', {}, q.type),
        el(
          'td',
          { class: 'rcode' },
          badge(q.rcode),
          q.didYouMean ? el('span', { class: 'hint' }, ` did you mean ${q.didYouMean}?`) : '',
        ),
        el('td', { class: 'mono answers' }, q.answers.join(', ')),
        el(
          'td',
          {},
          q.how === 'local'
            ? 'kvpn (from the API)'
            : q.how === 'cluster'
              ? 'cluster DNS'
              : q.how === 'upstream'
                ? "this machine's DNS"
                : q.how,
        ),
        el('td', { class: 'num' }, `${q.latencyMs} ms`),
      ),
    ),
  );
}

// ---- Intercepts -------------------------------------------------------------

function drawIntercepts(data, status) {
  const list = document.getElementById('intercepts-list');
  const intercepts = status?.intercepts || [];
  list.replaceChildren(
    intercepts.length
      ? el(
          'ul',
          { class: 'plain' },
          intercepts.map((i) => el('li', {}, interceptLine(i))),
        )
      : el(
          'p',
          { class: 'counts' },
          'No intercepts in this session: `kvpn intercept WORKLOAD --port PORT` starts one.',
        ),
  );
  document.getElementById('requests-counts').textContent =
    `${data.matched} matching, ${data.requests.length} shown · ${data.total} recorded` +
    (data.dropped ? ` · ${data.dropped} older ones dropped` : '');
  replaceRows(
    document.querySelector('#requests-table tbody'),
    data.requests.map((r) =>
      el(
        'tr',
        {
          class: `selectable${r.id === selectedRequest ? ' selected' : ''}`,
          'data-request-id': r.id,
          onclick: () => selectRequest(r.id),
        },
        el('td', { class: 'mono' }, clock(r.at)),
        el('td', {}, r.intercept),
        el('td', {}, r.method),
        el('td', { class: 'mono' }, r.path),
        el('td', {}, r.filter),
        el('td', {}, badge(r.to), r.why ? ` (${r.why})` : ''),
        el(
          'td',
          {},
          r.status === null
            ? r.error
              ? badge('error', 'bad')
              : '…'
            : badge(String(r.status), r.status < 400 ? 'ok' : 'bad'),
        ),
        el('td', { class: 'num' }, ms(r.durationMs)),
      ),
    ),
  );
}

function headerList(headers) {
  return el('pre', { class: 'mono' }, headers.map(([k, v]) => `${k}: ${v}`).join('\n'));
}

async function selectRequest(id) {
  selectedRequest = id;
  const aside = document.getElementById('request-detail');
  aside.hidden = false;
  let detail;
  try {
    detail = await getJson(`/api/requests/${id}`);
  } catch (err) {
    aside.replaceChildren(el('p', { class: 'error' }, err.message));
    return;
  }
  const r = detail.request;
  const result = el('div', { id: 'replay-result' });
  const button = el('button', { type: 'button', id: 'replay' }, `Replay to localhost:${detail.intercept.localPort}`);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const response = await fetch(`/api/requests/${id}/replay`, { method: 'POST', credentials: 'same-origin' });
      const text = await response.text();
      if (!response.ok) result.replaceChildren(el('p', { class: 'error' }, text));
      else {
        const replay = JSON.parse(text);
        result.replaceChildren(replayView(replay));
      }
    } finally {
      button.disabled = false;
    }
  });
  aside.replaceChildren(
    el('h2', {}, `${r.method} ${r.path}`),
    facts([
      ['intercept', `${detail.intercept.name} (${detail.intercept.service}.${detail.intercept.namespace})`],
      ['filter', r.filter],
      [
        'routed to',
        r.to === 'laptop'
          ? `this laptop (localhost:${detail.intercept.localPort})`
          : `the pods${r.why ? ` (${r.why})` : ''}`,
      ],
      ['status', r.status ?? r.error ?? '…'],
      ['duration', ms(r.durationMs)],
      ['protocol', r.protocol],
    ]),
    el('h2', {}, 'Request headers'),
    headerList(r.headers),
    r.headersTruncated ? el('p', { class: 'hint' }, 'more headers were not kept') : '',
    el('h2', {}, `Body (${r.bodyBytes} bytes${r.bodyTruncated ? ', first part kept' : ''})`),
    el('pre', { class: 'mono' }, detail.body),
    el('p', {}, button),
    result,
    detail.replays.length ? el('h2', {}, 'Earlier replays') : '',
    ...detail.replays.map(replayView),
  );
}

function replayView(replay) {
  return el(
    'div',
    { class: 'replay' },
    el(
      'p',
      {},
      `${clock(replay.at)} → `,
      replay.status === null
        ? el('span', { class: 'error' }, replay.error)
        : badge(String(replay.status), replay.status < 400 ? 'ok' : 'bad'),
      ` in ${ms(replay.durationMs)}`,
    ),
    replay.headers.length ? headerList(replay.headers) : '',
    replay.bodyBytes ? el('pre', { class: 'mono' }, replay.body) : '',
  );
}

// ---- Environment and mounts -----------------------------------------------

function drawMounts(status) {
  const mounts = status?.mounts || [];
  const list = document.getElementById('mounts-list');
  const workloads = new Set([...mounts.map((m) => m.workload), ...(status?.intercepts || []).map((i) => i.workload)]);
  document
    .getElementById('environment-workloads')
    .replaceChildren(...[...workloads].map((w) => el('option', { value: w })));
  if (!mounts.length) {
    list.replaceChildren(
      el('h2', {}, 'Mounts'),
      el('p', { class: 'counts' }, 'No mounts in this session: `kvpn mount WORKLOAD` makes one.'),
    );
    return;
  }
  list.replaceChildren(
    el('h2', {}, 'Mounts'),
    ...mounts.map((m) =>
      el(
        'div',
        { class: 'mount' },
        el(
          'p',
          {},
          `${m.name}: ${m.workload} (pod ${m.pod}, container ${m.container}) at `,
          el('span', { class: 'mono' }, m.dir),
          m.problem ? el('span', { class: 'error' }, ` — ${m.problem}`) : '',
        ),
        el(
          'ul',
          { class: 'plain mono' },
          (m.paths || []).map((p) =>
            el(
              'li',
              {},
              `${p.mountPath} ← ${p.volume} (${p.type}, ${p.source === 'api' ? 'from the API' : 'from the pod'}${p.readOnly ? ', read-only' : ''})`,
            ),
          ),
        ),
      ),
    ),
  );
}

const SOURCE_TEXT = {
  value: 'the manifest',
  configMap: 'a ConfigMap',
  secret: 'a Secret',
  fieldRef: 'the pod (downward API)',
  resourceFieldRef: 'its resources',
  service: 'a Service link',
  fileKeyRef: 'a file',
};

function secretCell(value) {
  const cell = el('td', { class: 'mono value secret' });
  const reveal = el('button', { type: 'button', class: 'reveal', title: 'show this Secret value' }, 'show');
  reveal.addEventListener('click', () => cell.replaceChildren(value));
  cell.append('•••••• ', reveal);
  return cell;
}

async function showEnvironment() {
  const params = new URLSearchParams(query('environment-form'));
  const counts = document.getElementById('environment-counts');
  const tbody = document.querySelector('#environment-table tbody');
  counts.textContent = `reading ${params.get('workload')}…`;
  const response = await fetch(`/api/environment?${params}`, { credentials: 'same-origin' });
  const data = await response.json().catch(() => ({ error: `${response.status}` }));
  if (!response.ok) {
    counts.replaceChildren(el('span', { class: 'error' }, data.error));
    tbody.replaceChildren();
    return;
  }
  counts.textContent = `${data.workload}, container ${data.container}${data.pod ? ` (pod ${data.pod})` : ''} in ${data.namespace}: ${data.entries.length} variables`;
  replaceRows(
    tbody,
    data.entries.map((e) =>
      el(
        'tr',
        { 'data-name': e.name },
        el('td', { class: 'mono' }, e.name),
        e.value === null
          ? el('td', { class: 'hint' }, `unknown here: ${e.unavailable}`)
          : e.fromSecret
            ? secretCell(e.value)
            : el('td', { class: 'mono value' }, e.value),
        el('td', {}, SOURCE_TEXT[e.source] || e.source),
      ),
    ),
  );
}

// ---- Wiring -----------------------------------------------------------------

let lastStatus = null;
let staleWhileHidden = false;

async function refresh() {
  // A tab in the background draws nothing: it catches up when it is shown again.
  if (document.hidden) {
    staleWhileHidden = true;
    return;
  }
  if (inFlight) {
    again = true;
    return;
  }
  const wait = lastFetch + MIN_REFRESH_MS - Date.now();
  if (wait > 0) {
    inFlight = true;
    setTimeout(() => {
      inFlight = false;
      refresh();
    }, wait);
    return;
  }
  inFlight = true;
  lastFetch = Date.now();
  const view = current;
  const seen = { ...versions };
  try {
    if (view === 'overview' || view === 'intercepts' || view === 'environment' || !lastStatus) {
      const overview = await getJson('/api/overview');
      lastStatus = overview.status;
      if (view === 'overview') drawOverview(overview);
      if (view === 'environment') drawMounts(lastStatus);
    }
    if (view === 'connections')
      drawConnections(await getJson(`/api/connections?limit=${ROWS_SHOWN}&${query('connections-filters')}`));
    if (view === 'dns') drawDns(await getJson(`/api/dns?limit=${ROWS_SHOWN}&${query('dns-filters')}`));
    if (view === 'intercepts') drawIntercepts(await getJson(`/api/requests?${query('requests-filters')}`), lastStatus);
    shownVersion = seen;
    document.body.dataset.drawn = String(Date.now());
  } catch (err) {
    document.getElementById('live').textContent = `error: ${err.message}`;
  } finally {
    inFlight = false;
    if (again) {
      again = false;
      refresh();
    }
  }
}

const VERSION_OF = {
  overview: 'status',
  connections: 'flows',
  dns: 'dns',
  intercepts: 'requests',
  environment: 'status',
};

function show(view) {
  current = VIEWS.includes(view) ? view : 'overview';
  for (const name of VIEWS) document.getElementById(name).hidden = name !== current;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === current);
  refresh();
}

function listen() {
  const live = document.getElementById('live');
  const events = new EventSource('/api/events');
  events.onopen = () => {
    live.textContent = 'live';
    live.classList.add('on');
  };
  events.onerror = () => {
    live.textContent = 'reconnecting… (is the session still up?)';
    live.classList.remove('on');
  };
  events.onmessage = (message) => {
    versions = JSON.parse(message.data);
    const key = VERSION_OF[current];
    if (versions[key] !== shownVersion[key] || (current === 'intercepts' && versions.status !== shownVersion.status))
      refresh();
  };
}

document.getElementById('environment-form').addEventListener('submit', (e) => {
  e.preventDefault();
  showEnvironment().catch((err) => {
    document.getElementById('environment-counts').textContent = `error: ${err.message}`;
  });
});
for (const id of ['connections-filters', 'dns-filters', 'requests-filters']) {
  const form = document.getElementById(id);
  form.addEventListener('input', () => refresh());
  form.addEventListener('submit', (e) => e.preventDefault());
}
window.addEventListener('hashchange', () => show(location.hash.slice(1)));
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && staleWhileHidden) {
    staleWhileHidden = false;
    refresh();
  }
});
show(location.hash.slice(1));
listen();
