// Maintenance screen: log in with the maintenance password, see status and counters.
// It shows numbers and states only; the kiosk serves nothing about residents here.
const $ = (id) => document.getElementById(id);
let token = null;

const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function rows(obj, prefix = '') {
  return Object.entries(obj).flatMap(([k, v]) =>
    v && typeof v === 'object' ? rows(v, `${prefix}${k}.`) : [`<tr><th>${esc(prefix + k)}</th><td data-key="${esc(prefix + k)}">${esc(v)}</td></tr>`],
  );
}

async function refresh() {
  const r = await fetch('/api/maintenance/status', { headers: { authorization: `Bearer ${token}` } });
  if (r.status !== 200) return logout();
  $('status-table').innerHTML = rows(await r.json()).join('');
}

function logout() {
  if (token) fetch('/api/maintenance/logout', { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  token = null;
  $('status').hidden = true;
  $('login').hidden = false;
  $('password').focus();
}

$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const password = $('password').value;
  $('password').value = '';
  const r = await fetch('/api/maintenance/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
  const body = await r.json();
  if (body.ok) {
    token = body.token;
    $('login-message').textContent = '';
    $('login').hidden = true;
    $('status').hidden = false;
    await refresh();
    $('refresh').focus();
    return;
  }
  $('login-message').textContent =
    body.reason === 'locked'
      ? `ロックされています。${body.retryAfterSeconds}秒後に再試行してください。 / Locked: try again in ${body.retryAfterSeconds} s.`
      : `パスワードが違います（あと${body.failuresLeft}回でロック）。 / Wrong password (${body.failuresLeft} tries before the lock).`;
});
$('refresh').addEventListener('click', refresh);
$('logout').addEventListener('click', logout);
$('password').focus();
