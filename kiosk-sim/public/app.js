// The kiosk screen: draws the state the kiosk process holds (server-sent events)
// and posts the resident's taps back. No state of its own beyond what is drawn.
import { LANGUAGE_NAMES, t, certTypeName, errorText, memberLabel, people } from './texts.js';

const $ = (id) => document.getElementById(id);
let state = null;
let busy = false; // a commit tap is on its way: ignore further taps until the next state
let beeper = null;

const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const yen = (n) => t(state.lang, 'yen', { n: Number(n).toLocaleString('ja-JP') });
const tt = (key, vars) => esc(t(state.lang, key, vars));

const COMMITS = new Set(['start', 'back', 'cancel', 'pin-ok', 'choose-type', 'options-ok', 'members-ok', 'copies-ok', 'confirm', 'to-pay', 'pay', 'done']);

async function act(body) {
  if (!state) return;
  const commit = COMMITS.has(body.action);
  if (commit) {
    if (busy) return;
    busy = true;
    document.querySelectorAll('#kiosk button[data-action]').forEach((b) => b.setAttribute('aria-disabled', 'true'));
  }
  try {
    await fetch('/api/action', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, seq: state.seq }) });
  } finally {
    if (commit) {
      busy = false;
      document.querySelectorAll('#kiosk button[data-action]').forEach((b) => b.removeAttribute('aria-disabled'));
    }
  }
}

function button(action, label, cls = 'btn', extra = {}) {
  const data = Object.entries(extra).map(([k, v]) => ` data-${k}="${esc(v)}"`).join('');
  return `<button type="button" class="${cls}" data-action="${action}"${data}>${label}</button>`;
}

function footer(left = [], right = []) {
  return `${left.join('')}<span class="spacer"></span><span class="idle" id="idle" aria-live="off"></span>${right.join('')}`;
}

const cancel = () => button('cancel', tt('cancel'), 'btn quiet');
const back = () => button('back', tt('back'), 'btn quiet');

/** The household members a resident may pick for this choice (menu item), or null. */
function choosable(s) {
  const item = s.menu?.items.find((i) => i.certType === s.choice?.certType);
  return item && item.options.includes('scope') && item.members?.length >= 2 ? item.members : null;
}

/** 世帯主（ご本人） 昭和54年（1979年）生まれ: one line per member for the confirmation. */
function memberLine(m) {
  const l = memberLabel(state.lang, m);
  return `${esc(l.relation)}${l.printed ? ` (${esc(l.printed)})` : ''}${l.you ? ` <b class="you">${esc(l.you)}</b>` : ''} · ${esc(l.born)}`;
}

function optionLines(choice) {
  const lines = [];
  const members = choosable(state);
  for (const [k, v] of Object.entries(choice.options)) {
    if (k === 'members') continue;
    if (k === 'scope' && v === 'members') {
      const picked = (members ?? []).filter((m) => choice.options.members?.includes(m.ref));
      lines.push(`${tt('opt_scope')}: ${tt('opt_scope_members_short')} <b data-testid="member-count">${esc(people(state.lang, picked.length))}</b>`
        + `<ul class="picked">${picked.map((m) => `<li>${memberLine(m)}</li>`).join('')}</ul>`);
    } else if (k === 'scope' && v === 'household') {
      lines.push(`${tt('opt_scope')}: ${tt('opt_scope_household')}${members ? ` <b data-testid="member-count">${esc(people(state.lang, members.length))}</b>` : ''}`);
    } else if (k === 'scope') lines.push(`${tt('opt_scope')}: ${tt('opt_scope_self')}`);
    else if (k === 'fiscalYear') lines.push(`${tt('opt_fiscalYear')}: ${tt('fiscalYear', { year: v })}`);
    else lines.push(`${tt('opt_' + k)}: ${tt(v ? 'include' : 'omit')}`);
  }
  return lines;
}

const SCREENS = {
  start(s) {
    const notice = [];
    if (s.notice === 'timeout') notice.push(tt('noticeTimeout'));
    if (s.notice === 'cancelled') notice.push(tt('noticeCancelled'));
    if (s.refunded) notice.push(tt('refunded', { yen: Number(s.refunded).toLocaleString('ja-JP') }));
    return {
      body: `<div class="start">
        ${notice.length ? `<p class="notice" role="status">${notice.join('<br>')}</p>` : ''}
        ${button('start', `${tt('startButton')}`, 'btn primary big')}
        <p>${tt('startSub')}</p>
        <p class="hint">${tt('startHint')}</p>
      </div>`,
      foot: footer(),
    };
  },
  'place-card'(s) {
    return {
      body: `<h1>${tt('placeCardTitle')}</h1>
        ${s.replaceCard ? `<p class="alert" role="alert">${tt('replaceCard')}</p>` : ''}
        <p>${tt('placeCardHint')}</p>
        ${picture('place')}`,
      foot: footer([cancel()]),
    };
  },
  reading: () => wait('readingTitle', 'readingHint'),
  checking: () => wait('checkingTitle', 'checkingHint'),
  requesting: () => wait('requestingTitle', 'requestingHint'),
  pin(s) {
    const boxes = [0, 1, 2, 3].map((i) => `<span>${i < s.pin.length ? '●' : ''}</span>`).join('');
    const keys = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].map((d) => button('digit', d, '', { digit: d }));
    keys.push(button('pin-clear', tt('pinClear'), 'small'), button('digit', '0', '', { digit: '0' }), button('pin-delete', tt('pinDelete'), 'small'));
    const ok = `<button type="button" class="btn primary" data-action="pin-ok"${s.pin.length === 4 ? '' : ' disabled'}>${tt('ok')}</button>`;
    return {
      body: `<div class="pin-row"><div class="pin-left">
          <h1>${tt('pinTitle')}</h1>
          ${s.pin.wrong ? `<p class="alert" role="alert">${tt('pinWrong')}<br>${tt('triesLeft', { n: s.pin.triesLeft })}</p>` : ''}
          <p class="hint">${tt('pinHint')}</p>
          <div class="pin-boxes" role="img" aria-label="${tt('pinDigits', { n: s.pin.length })}">${boxes}</div>
        </div>
        <div class="keypad" role="group" aria-label="keypad">${keys.join('')}</div></div>`,
      foot: footer([cancel()], [ok]),
      focus: s.pin.length === 4 ? '[data-action="pin-ok"]' : null,
    };
  },
  menu(s) {
    const items = s.menu.items
      .filter((i) => !s.menu.refusals.some((r) => r.certType === i.certType))
      .map((i) => button('choose-type', `${esc(certTypeName(s.lang, i.certType))}<span class="fee">${tt('perCopy', { fee: i.fee })}</span>`, '', { certtype: i.certType }));
    const refused = s.menu.refusals.map(
      (r) => `<li data-certtype="${esc(r.certType)}"><span class="name">${esc(certTypeName(s.lang, r.certType))}</span><span class="why">${esc(errorText(s.lang, r))}</span></li>`,
    );
    return {
      body: `<h1>${tt('menuTitle')}</h1><p class="hint">${tt('menuCity', { city: s.menu.cityName })}</p>
        <div class="menu">${items.join('')}</div>
        ${refused.length ? `<h2 class="refused-title">${tt('notAvailable')}</h2><ul class="refused">${refused.join('')}</ul>` : ''}`,
      foot: footer([cancel()]),
    };
  },
  options(s) {
    const item = s.menu.items.find((i) => i.certType === s.choice.certType);
    const sets = item.options.map((k) => {
      let choices;
      if (k === 'members') return '';
      if (k === 'scope') choices = [['self', 'opt_scope_self'], ['household', 'opt_scope_household'], ...(choosable(s) ? [['members', 'opt_scope_members']] : [])];
      else if (k === 'fiscalYear') choices = (item.fiscalYears ?? []).map((y) => [y, null]);
      else choices = [[true, 'include'], [false, 'omit']];
      const btns = choices.map(([v, label]) => {
        const pressed = s.choice.options[k] === v;
        return `<button type="button" data-action="set-option" data-key="${k}" data-value='${esc(JSON.stringify(v))}' aria-pressed="${pressed}">${label ? tt(label) : tt('fiscalYear', { year: v })}</button>`;
      });
      const next = k === 'scope' && s.choice.options.scope === 'members' ? `<span class="hint next-step" data-testid="members-next">${tt('membersNext')}</span>` : '';
      return `<fieldset><legend>${tt('opt_' + k)}</legend><div class="choices">${btns.join('')}${next}</div></fieldset>`;
    });
    return {
      body: `<h1>${tt('optionsTitle')}</h1><p class="hint">${esc(certTypeName(s.lang, s.choice.certType))}</p>${sets.join('')}`,
      foot: footer([back(), cancel()], [button('options-ok', tt('next'), 'btn primary')]),
    };
  },
  members(s) {
    const members = choosable(s) ?? [];
    const picked = s.choice.options.members ?? [];
    const btns = members.map((m) => {
      const on = picked.includes(m.ref);
      const l = memberLabel(s.lang, m);
      return `<button type="button" data-action="set-member" data-ref="${esc(m.ref)}" aria-pressed="${on}">`
        + `<span class="tick" aria-hidden="true">${on ? '✓' : ''}</span>`
        + `<span class="who"><span class="rel">${esc(l.relation)}${l.printed ? ` <span class="printed" lang="ja">${esc(l.printed)}</span>` : ''}${l.you ? ` <span class="you">${esc(l.you)}</span>` : ''}</span>`
        + `<span class="born">${esc(l.born)}</span></span></button>`;
    });
    const ok = `<button type="button" class="btn primary" data-action="members-ok"${picked.length ? '' : ' disabled'}>${tt('next')}</button>`;
    return {
      body: `<h1>${tt('membersTitle')}</h1>
        <div class="members-head"><p class="hint">${tt('membersHint')}</p>
        <p class="picked-count${picked.length ? '' : ' none'}" role="status" data-testid="picked-count">${picked.length ? tt('membersPicked', { people: people(s.lang, picked.length) }) : tt('membersNeedOne')}</p></div>
        <div class="members${members.length > 6 ? ' many' : ''}" role="group" aria-label="${tt('membersTitle')}">${btns.join('')}</div>`,
      foot: footer([back(), cancel()], [ok]),
    };
  },
  copies(s) {
    const btns = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(
      (n) => `<button type="button" data-action="copies" data-copies="${n}" aria-pressed="${s.choice.copies === n}">${n}</button>`,
    );
    return {
      body: `<h1>${tt('copiesTitle')}</h1><p class="hint">${esc(certTypeName(s.lang, s.choice.certType))} — ${tt('perCopy', { fee: s.choice.feePerCopy })}</p>
        <div class="copies" role="group" aria-label="${tt('copiesLabel')}">${btns.join('')}</div>
        <p class="total">${tt('copiesLabel')}: ${tt('copies', { n: s.choice.copies })} / ${tt('fee')}: ${esc(yen(s.choice.feePerCopy * s.choice.copies))}</p>`,
      foot: footer([back(), cancel()], [button('copies-ok', tt('next'), 'btn primary')]),
    };
  },
  confirm(s) {
    const c = s.choice;
    const lines = optionLines(c);
    return {
      body: `<h1>${tt('confirmTitle')}</h1>
        <table class="summary">
          <tr><th>${tt('certificate')}</th><td>${esc(certTypeName(s.lang, c.certType))}</td></tr>
          ${lines.length ? `<tr><th>${tt('details')}</th><td>${lines.join('<br>')}</td></tr>` : ''}
          <tr><th>${tt('copiesLabel')}</th><td>${tt('copies', { n: c.copies })}</td></tr>
          <tr><th>${tt('fee')}</th><td class="total">${esc(yen(c.feePerCopy * c.copies))}</td></tr>
        </table>`,
      foot: footer([back(), cancel()], [button('confirm', tt('issue'), 'btn primary')]),
    };
  },
  received(s) {
    return {
      body: `<h1>${tt('receivedTitle')}</h1><p>${tt('receivedHint')}</p>
        <p class="total">${tt('fee')}: ${esc(yen(s.pay.fee))}</p>`,
      foot: footer([cancel()], [button('to-pay', tt('toPay'), 'btn primary')]),
    };
  },
  pay(s) {
    const p = s.pay;
    const coins = [10, 50, 100, 500, 1000].map((y) => button('coin', esc(yen(y)), '', { yen: y }));
    return {
      body: `<h1>${tt('payTitle')}</h1>
        <div class="money"><div>${tt('fee')}<b>${esc(yen(p.fee))}</b></div><div>${tt('inserted')}<b data-testid="inserted">${esc(yen(p.inserted))}</b></div>
        ${p.inserted > p.fee
          ? `<div>${tt('changeLabel')}<b>${esc(yen(p.inserted - p.fee))}</b></div>`
          : `<div>${tt('remaining')}<b>${esc(yen(p.fee - p.inserted))}</b></div>`}</div>
        ${p.short ? `<p class="alert" role="alert">${tt('shortBy', { yen: Number(p.short).toLocaleString('ja-JP') })}</p>` : ''}
        <p class="hint">${tt('insertCoins')}</p><div class="coins" role="group" aria-label="${tt('insertCoins')}">${coins.join('')}</div>`,
      foot: footer([cancel()], [button('pay', tt('payButton'), 'btn primary')]),
      focus: p.inserted >= p.fee ? '[data-action="pay"]' : null,
    };
  },
  'remove-card'(s) {
    return {
      body: `<h1>${tt('removeCardTitle')}</h1><p>${tt('removeCardHint')}</p>
        ${s.change ? `<p class="notice" role="status">${tt('change', { yen: Number(s.change).toLocaleString('ja-JP') })}</p>` : ''}
        ${picture('remove')}`,
      foot: footer(),
    };
  },
  printing(s) {
    const p = s.printing ?? { done: 0, total: 1, front: { done: 0, total: 0 }, back: { done: 0, total: 0 } };
    const bar = (side, label) => {
      const x = p[side];
      if (!x || !x.total) return '';
      return `<div class="side" data-side="${side}"><span class="side-label">${label}</span>
        <div class="progress" role="progressbar" aria-label="${label}" aria-valuemin="0" aria-valuemax="${x.total}" aria-valuenow="${x.done}" data-pct="${Math.round((100 * x.done) / x.total)}"><div></div></div>
        <span class="side-count" data-testid="${side}-count">${tt('pages', { done: x.done, total: x.total })}</span></div>`;
    };
    return {
      body: `<div class="wait"><h1>${tt('printingTitle')}</h1>
        <p class="copies-done" data-testid="copies-done">${tt('printingProgress', { done: p.done, total: p.total })}</p>
        <div class="sides">${bar('front', tt('sideFront'))}${bar('back', tt('sideBack'))}</div>
        ${p.back?.total ? `<p class="hint">${tt('twoSidedHint')}</p>` : ''}
        <p class="hint">${tt('printingHint')}</p></div>`,
      foot: footer(),
    };
  },
  take() {
    return {
      body: `<div class="wait"><h1>${tt('takeTitle')}</h1><p>${tt('takeHint')}</p>
        ${picture('paper')}</div>`,
      foot: footer([`<button type="button" class="btn quiet" id="stop-sound">${tt('stopSound')}</button>`], [button('done', tt('done'), 'btn primary')]),
      focus: '[data-action="done"]',
    };
  },
  error(s) {
    const e = s.error;
    return {
      body: `<h1>${tt('errorTitle')}</h1>
        <p class="alert" role="alert" data-code="${esc(e.code)}">${esc(errorText(s.lang, e))}</p>
        ${s.refunded ? `<p class="notice" role="status">${tt('refunded', { yen: Number(s.refunded).toLocaleString('ja-JP') })}</p>` : ''}
        ${s.cardPresent ? `<p><b>${tt('endRemoveTitle')}</b></p>${picture('remove')}` : ''}`,
      foot: footer([], [button('done', tt('backToStart'), 'btn primary')]),
    };
  },
  'end-remove-card'(s) {
    return {
      body: `<h1>${tt('endRemoveTitle')}</h1><p>${tt('endRemoveHint')}</p>
        ${s.refunded ? `<p class="notice" role="status">${tt('refunded', { yen: Number(s.refunded).toLocaleString('ja-JP') })}</p>` : ''}
        ${picture('remove')}`,
      foot: footer(),
    };
  },
};

/** Simple drawings: the card going onto / off the reader, the paper in the tray. */
function picture(kind) {
  const arrow = (y1, y2) => `<path d="M200 ${y1} L200 ${y2}" stroke="#0a4a94" stroke-width="10"/><path d="M182 ${y2 + (y2 > y1 ? -14 : 14)} L200 ${y2} L218 ${y2 + (y2 > y1 ? -14 : 14)}" fill="none" stroke="#0a4a94" stroke-width="10" stroke-linejoin="round"/>`;
  const reader = '<rect x="90" y="150" width="220" height="50" rx="10" fill="#2b2b2b"/><rect x="120" y="140" width="160" height="14" rx="4" fill="#666"/>';
  const card = (y) => `<rect x="130" y="${y}" width="140" height="88" rx="10" fill="#eaf1fb" stroke="#0a4a94" stroke-width="5"/><rect x="145" y="${y + 16}" width="34" height="26" rx="4" fill="#d4a300"/><rect x="190" y="${y + 56}" width="64" height="10" rx="5" fill="#0a4a94"/>`;
  let body;
  if (kind === 'place') body = card(0) + arrow(92, 132) + reader;
  else if (kind === 'remove') body = card(52) + reader + arrow(40, 2);
  else body = '<rect x="80" y="150" width="240" height="50" rx="10" fill="#2b2b2b"/><rect x="140" y="40" width="120" height="150" fill="#fff" stroke="#111" stroke-width="4"/><path d="M158 70 H242 M158 92 H242 M158 114 H220" stroke="#777" stroke-width="6"/>';
  return `<svg class="picture" viewBox="0 -8 400 218" width="400" height="218" aria-hidden="true">${body}</svg>`;
}

function wait(title, hint) {
  return { body: `<div class="wait"><div class="spinner" aria-hidden="true"></div><h1>${tt(title)}</h1><p class="hint">${tt(hint)}</p></div>`, foot: footer() };
}

function render() {
  const s = state;
  document.documentElement.lang = s.lang === 'zh' ? 'zh-Hans' : s.lang;
  $('brand').textContent = t(s.lang, 'serviceName');
  $('langs').setAttribute('aria-label', t(s.lang, 'language'));
  $('langs').innerHTML = Object.entries(LANGUAGE_NAMES)
    .map(([code, name]) => `<button type="button" lang="${code}" data-lang="${code}" aria-pressed="${code === s.lang}">${esc(name)}</button>`)
    .join('');
  const prevScreen = $('screen').dataset.screen;
  const prevFocus = document.activeElement?.closest?.('#kiosk') ? focusKey(document.activeElement) : null;
  const view = (SCREENS[s.screen] ?? SCREENS.start)(s);
  $('screen').innerHTML = view.body;
  $('screen').dataset.screen = s.screen;
  $('kiosk').dataset.screen = s.screen;
  $('foot').innerHTML = view.foot;
  // The page's CSP allows no inline style attributes: bar widths are set from here.
  document.querySelectorAll('#kiosk .progress[data-pct]').forEach((el) => {
    el.firstElementChild.style.width = `${el.dataset.pct}%`;
  });
  // Keep keyboard focus where it was within one screen; on a new screen, start at the primary control.
  let target = null;
  if (prevScreen === s.screen && prevFocus && prevFocus !== '#screen') target = document.querySelector(prevFocus);
  if (!target && view.focus) target = document.querySelector(view.focus);
  if (!target && prevScreen !== s.screen) target = document.querySelector('#kiosk .btn.primary:not([disabled])') ?? $('screen');
  target?.focus();
  tickIdle();
  sound(s.screen === 'take');
  // The armed printer fault is used up by the job now printing.
  if (s.screen === 'printing') document.querySelectorAll('#fault-buttons button').forEach((x) => x.setAttribute('aria-pressed', String(x.dataset.fault === 'none')));
  refreshControls();
}

function focusKey(el) {
  if (el.id) return `#${el.id}`;
  const a = el.dataset.action;
  if (!a) return null;
  for (const k of ['digit', 'certtype', 'key', 'ref', 'copies', 'yen', 'lang']) {
    if (el.dataset[k] !== undefined) return `[data-action="${a}"][data-${k}="${el.dataset[k]}"]${k === 'key' ? `[data-value='${el.dataset.value}']` : ''}`;
  }
  return `[data-action="${a}"]`;
}

function tickIdle() {
  const el = $('idle');
  if (!el || !state) return;
  if (!state.idleDeadline) {
    el.textContent = '';
    return;
  }
  const left = Math.max(0, Math.ceil((state.idleDeadline - Date.now()) / 1000));
  el.textContent = left <= 30 ? t(state.lang, 'idle', { s: left }) : '';
  el.classList.toggle('soon', left <= 10);
}
setInterval(tickIdle, 500);

/** The "take your certificate" chime, until stopped or the screen changes. */
function sound(on) {
  if (!on) {
    if (beeper) clearInterval(beeper.timer), beeper.ctx.close().catch(() => {});
    beeper = null;
    return;
  }
  if (beeper) return;
  try {
    const ctx = new AudioContext();
    const beep = () => {
      const o = ctx.createOscillator();
      const g = ctx.createGain();
      o.frequency.value = 880;
      g.gain.value = 0.2;
      o.connect(g).connect(ctx.destination);
      o.start();
      o.stop(ctx.currentTime + 0.25);
    };
    beep();
    beeper = { ctx, timer: setInterval(beep, 1500) };
  } catch {
    /* no audio device: the screen warning still shows */
  }
}

document.addEventListener('click', (ev) => {
  const el = ev.target.closest('button');
  if (!el || !state) return;
  if (el.id === 'stop-sound') return sound(false);
  if (el.dataset.lang) return act({ action: 'lang', lang: el.dataset.lang });
  if (!el.closest('#kiosk') || el.disabled || el.getAttribute('aria-disabled') === 'true') return;
  const a = el.dataset.action;
  if (!a) return;
  const body = { action: a };
  if (a === 'digit') body.digit = el.dataset.digit;
  if (a === 'choose-type') body.certType = el.dataset.certtype;
  if (a === 'set-option') Object.assign(body, { key: el.dataset.key, value: JSON.parse(el.dataset.value) });
  // The value the resident sees it will get: a double tap sets it twice, never back.
  if (a === 'set-member') Object.assign(body, { ref: el.dataset.ref, on: el.getAttribute('aria-pressed') !== 'true' });
  if (a === 'copies') body.copies = Number(el.dataset.copies);
  if (a === 'coin') body.yen = Number(el.dataset.yen);
  act(body);
});

// A hardware keyboard works too: digits and Backspace on the PIN screen, Escape cancels.
document.addEventListener('keydown', (ev) => {
  if (!state || ev.target.closest?.('#controls')) return;
  if (state.screen === 'pin') {
    if (/^[0-9]$/.test(ev.key)) return ev.preventDefault(), act({ action: 'digit', digit: ev.key });
    if (ev.key === 'Backspace') return ev.preventDefault(), act({ action: 'pin-delete' });
    if (ev.key === 'Enter' && state.pin.length === 4 && !ev.target.closest?.('button')) return ev.preventDefault(), act({ action: 'pin-ok' });
  }
  if (ev.key === 'Escape' && document.querySelector('[data-action="cancel"]')) act({ action: 'cancel' });
});

// ---------------------------------------------------------------- demo controls

let cardsShown = false;
let lastPresent = null;
let cards = [];
async function refreshControls() {
  if (!state) return;
  if (cardsShown && lastPresent === state.cardPresent) return;
  lastPresent = state.cardPresent;
  const r = await fetch('/api/cards').then((x) => x.json());
  cards = r.cards;
  const sel = $('card-select');
  if (!cardsShown) {
    sel.innerHTML = cards.map((c) => `<option value="${esc(c.cardId)}">${esc(c.cardId)} ${esc(c.scenario)} — ${esc(c.holder)}</option>`).join('');
    cardsShown = true;
    sel.addEventListener('change', () => showPin());
  }
  showPin();
  $('printer-demo').hidden = r.printer !== 'tray';
  if (r.reader?.kind === 'pcsc') {
    // A real PC/SC reader: what pcscd reports, no buttons (the card goes on the reader itself).
    pcscMode = true;
    $('card-insert').hidden = true;
    $('card-remove').hidden = true;
    $('pcsc-hint').hidden = false;
    $('reader-status').dataset.kind = 'pcsc';
    $('reader-status').dataset.present = String(r.reader.cardPresent);
    $('reader-status').textContent = r.reader.name
      ? `PC/SC reader: ${r.reader.name} — ${r.reader.cardPresent ? 'card present' : 'no card'}`
      : 'PC/SC reader: waiting for pcscd to report it';
    return;
  }
  $('reader-status').textContent = r.inReader ? `Card in reader: ${r.inReader}` : 'Reader empty';
}
// With PC/SC the reader's name appears when pcscd reports it: look again now and then.
let pcscMode = false;
setInterval(() => {
  if (pcscMode) {
    lastPresent = null;
    refreshControls();
  }
}, 1500);
function showPin() {
  const c = cards.find((x) => x.cardId === $('card-select').value);
  $('pin-hint').textContent = c ? `PIN ${c.pin} · tries left ${c.triesLeft}` : '';
}
$('card-insert').addEventListener('click', async () => {
  await fetch('/api/card/insert', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cardId: $('card-select').value }) });
  lastPresent = null;
  refreshControls();
});
$('card-remove').addEventListener('click', async () => {
  await fetch('/api/card/remove', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  lastPresent = null;
  refreshControls();
});
$('fault-buttons').addEventListener('click', async (ev) => {
  const b = ev.target.closest('button[data-fault]');
  if (!b) return;
  const fault = b.dataset.fault === 'none' ? null : b.dataset.fault;
  await fetch('/api/printer/fault', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fault }) });
  document.querySelectorAll('#fault-buttons button').forEach((x) => x.setAttribute('aria-pressed', String(x === b)));
});

// ---------------------------------------------------------------- the state stream

const events = new EventSource('/api/events');
events.onmessage = (ev) => {
  state = JSON.parse(ev.data);
  render();
};
