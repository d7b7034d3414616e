// Operator console: plain DOM, no build step. The session is an HttpOnly cookie;
// every call is same-origin JSON.
const $ = (s) => document.querySelector(s);
const text = (v) => document.createTextNode(v == null ? '' : String(v));
function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = document.createElement('td');
    td.append(c instanceof Node ? c : text(c));
    tr.append(td);
  }
  return tr;
}
async function api(path, opts = {}) {
  const res = await fetch(path, { ...opts, headers: opts.body ? { 'content-type': 'application/json' } : {}, credentials: 'same-origin' });
  const type = res.headers.get('content-type') || '';
  const body = type.includes('json') ? await res.json() : await res.text();
  if (!res.ok) throw Object.assign(new Error(body.code || res.status), { body, status: res.status });
  return body;
}
const errText = (e) => (e.body && e.body.code ? `${e.body.messageJa} / ${e.body.message} (${e.body.code})` : String(e.message));

let timer;
function show(loggedIn, name) {
  $('#login-view').hidden = loggedIn;
  $('#main-view').hidden = !loggedIn;
  $('#logout').hidden = !loggedIn;
  $('#who').textContent = loggedIn ? `運用者 / operator: ${name}` : '';
  clearInterval(timer);
  if (loggedIn) {
    refresh();
    timer = setInterval(refresh, 2000);
  }
}

async function refresh() {
  try {
    const s = await api('/api/status');
    const cities = $('#cities tbody');
    cities.replaceChildren(...s.cities.map((c) => {
      const status = document.createElement('span');
      status.className = c.status;
      status.textContent = c.status === 'active' ? '稼働中 / active' : '停止中 / suspended';
      const b = document.createElement('button');
      const suspend = c.status === 'active';
      b.textContent = suspend ? '停止 / Suspend' : '再開 / Resume';
      b.dataset.city = c.code;
      b.dataset.verb = suspend ? 'suspend' : 'resume';
      b.addEventListener('click', () => cityAction(c, b.dataset.verb));
      return row([c.code, `${c.prefecture} ${c.name}`, status, c.openNow ? '○' : '×', b]);
    }));
    $('#kiosks tbody').replaceChildren(...s.kiosks.map((k) => row([k.kioskId, k.storeId, k.registration, k.connected ? `○ (${k.connections})` : '—', k.since ? new Date(k.since).toLocaleString('ja-JP') : ''])));
    await refreshUnreported();
    const a = await api('/api/audit?limit=100');
    $('#audit tbody').replaceChildren(...a.events.map((e) => row([new Date(e.at).toLocaleString('ja-JP'), e.actor, e.action, e.target || '', e.outcome === 'ok' ? 'ok' : `refused ${e.code || ''}`])));
  } catch (e) {
    if (e.status === 401) show(false);
  }
}

// Issuances closed unreported, newest first, a page at a time.
const UNREPORTED_PAGE = 50;
let unreportedOffset = 0;
async function refreshUnreported() {
  const u = await api(`/api/unreported?limit=${UNREPORTED_PAGE}&offset=${unreportedOffset}`);
  if (u.total > 0 && unreportedOffset >= u.total) {
    unreportedOffset = Math.max(0, Math.floor((u.total - 1) / UNREPORTED_PAGE) * UNREPORTED_PAGE);
    return refreshUnreported();
  }
  const when = (v) => (v ? new Date(v).toLocaleString('ja-JP') : '');
  $('#unreported tbody').replaceChildren(...u.items.map((x) => {
    const action = document.createElement('span');
    action.className = x.needsAction ? 'needs-action' : '';
    action.textContent = x.needsAction ? '要対応 / action needed' : '—';
    const tr = row([when(x.closedAt), x.issuanceId, x.kioskId, x.cityCode || '', x.lateReportAt ? when(x.lateReportAt) : 'なし / none', x.lateCopiesPrinted == null ? '' : x.lateCopiesPrinted, action]);
    if (x.needsAction) tr.className = 'needs-action';
    return tr;
  }));
  $('#unreported-count').textContent = `全 ${u.total} 件（要対応 ${u.needingAction} 件） / ${u.total} in all (${u.needingAction} need action)`;
  $('#unreported-page').textContent = u.total ? `${u.offset + 1}–${u.offset + u.items.length} / ${u.total}` : '';
  $('#unreported-prev').disabled = u.offset === 0;
  $('#unreported-next').disabled = u.offset + u.items.length >= u.total;
}
$('#unreported-prev').addEventListener('click', () => {
  unreportedOffset = Math.max(0, unreportedOffset - UNREPORTED_PAGE);
  refreshUnreported().catch(() => undefined);
});
$('#unreported-next').addEventListener('click', () => {
  unreportedOffset += UNREPORTED_PAGE;
  refreshUnreported().catch(() => undefined);
});

async function cityAction(c, verb) {
  const ja = verb === 'suspend' ? '停止' : '再開';
  if (!confirm(`${c.name}（${c.code}）のサービスを${ja}しますか？ / ${verb} ${c.code}?`)) return;
  $('#action-error').textContent = '';
  try {
    await api(`/api/cities/${c.code}/${verb}`, { method: 'POST', body: '{}' });
  } catch (e) {
    $('#action-error').textContent = errText(e);
  }
  refresh();
}

$('#login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  $('#login-error').textContent = '';
  try {
    const r = await api('/api/login', { method: 'POST', body: JSON.stringify({ name: f.get('name'), password: f.get('password'), totp: f.get('totp') }) });
    ev.target.reset();
    show(true, r.name);
  } catch (e) {
    $('#login-error').textContent = errText(e);
  }
});

$('#logout').addEventListener('click', async () => {
  await api('/api/logout', { method: 'POST', body: '{}' }).catch(() => undefined);
  show(false);
});

const month = () => $('#settlement [name=month]').value;
function updateLinks() {
  $('#csv').href = `/api/settlement?month=${encodeURIComponent(month())}&format=csv`;
  $('#jsondl').href = `/api/settlement?month=${encodeURIComponent(month())}&format=json`;
  $('#jsondl').download = `settlement-${month()}.json`;
}
$('#settlement [name=month]').value = new Date().toISOString().slice(0, 7);
$('#settlement [name=month]').addEventListener('input', updateLinks);
updateLinks();
$('#settlement').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    const s = await api(`/api/settlement?month=${encodeURIComponent(month())}&format=json`);
    $('#settle tbody').replaceChildren(...s.cities.map((c) => row([c.cityCode, c.totals.issuances, c.totals.copies, c.totals.fees, c.totals.commission, c.totals.netToCity])));
  } catch (e) {
    $('#action-error').textContent = errText(e);
  }
});

api('/api/session').then((s) => show(true, s.name), () => show(false));
