// spotbot's dashboard: every page is filled from the JSON API (/api/v1), logged in with the
// session cookie. Pages are built with DOM calls and textContent only, never innerHTML from data,
// so whatever a user typed into a bot's name is shown, never run. See crates/web/src/lib.rs.
'use strict';

// ---------------------------------------------------------------------------------------------
// The API: JSON in and out, the CSRF token on every request that changes something, and errors
// as thrown ApiErrors that carry the server's {code, message, field}.

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `the server answered ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.field = body && body.field;
  }
}

const api = {
  csrf: null,
  async call(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && api.csrf) headers['X-CSRF-Token'] = api.csrf;
    let response;
    try {
      response = await fetch(path, {
        method, headers, credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new ApiError(0, { code: 'network', message: 'the server cannot be reached; is spotbot running?' });
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (error) { json = null; }
    if (!response.ok) throw new ApiError(response.status, json);
    return json;
  },
  get: (path) => api.call('GET', path),
  post: (path, body) => api.call('POST', path, body),
  patch: (path, body) => api.call('PATCH', path, body),
  del: (path) => api.call('DELETE', path),
};

// ---------------------------------------------------------------------------------------------
// DOM helpers.

// el('a', {href: '/x', class: 'y'}, 'text', child...): an element; strings become text nodes.
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'class') node.className = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function main() { return document.getElementById('main'); }

// Replaces the page's content with `nodes` (null and undefined ones left out).
function show(...nodes) {
  main().replaceChildren(...nodes.filter((node) => node !== null && node !== undefined));
}

function setTitle(title) { document.title = `${title} · spotbot`; }

// Times are shown in UTC, as the exchange and the logs give them: 2026-12-05 22:26:21 UTC.
function utc(ms) {
  return ms === null || ms === undefined ? '—' : `${new Date(ms).toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

// A decimal string shown with at most 8 decimals; the exact value is in its title.
const amountFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 8, useGrouping: false });
function amount(text) {
  return el('span', { title: text }, amountFormat.format(Number(text)));
}

function signed(text) {
  const value = Number(text);
  const node = amount(text);
  node.className = value > 0 ? 'positive' : value < 0 ? 'negative' : '';
  return node;
}

// A form field: label, input (or select) and the place its error goes.
// `suffix` keeps ids unique where one page has several forms with the same fields; such a form
// carries it as data-suffix, so that its errors find their field.
function field(name, label, input, suffix = '') {
  input.id = `field-${name}${suffix}`;
  input.name = name;
  input.setAttribute('aria-describedby', `error-${name}${suffix}`);
  return el('div', { class: 'field' },
    el('label', { for: input.id }, label), input,
    el('span', { class: 'field-error', id: `error-${name}${suffix}`, role: 'alert' }));
}

function clearErrors(form) {
  for (const node of form.querySelectorAll('.field-error')) node.textContent = '';
  for (const node of form.querySelectorAll('[aria-invalid]')) node.removeAttribute('aria-invalid');
  const general = form.querySelector('.form-error');
  if (general) general.textContent = '';
}

// Shows an API error next to the field it names (strategy_params.fast → the "fast" input), or
// at the top of the form when it names none the form has.
function showError(form, error) {
  const name = error.field ? String(error.field).replace(/^strategy_params\.?/, '') || 'strategy_params' : null;
  const input = name && form.querySelector(`[name="${CSS.escape(name)}"]`);
  const slot = name && form.querySelector(`#${CSS.escape(`error-${name}${form.dataset.suffix || ''}`)}`);
  if (input && slot) {
    input.setAttribute('aria-invalid', 'true');
    slot.textContent = error.message;
    input.focus();
    return;
  }
  const general = form.querySelector('.form-error');
  general.textContent = error.message;
}

// Runs `work` for a form submission: the button disabled meanwhile, errors shown in the form.
function onSubmit(form, work) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await work(new FormData(form));
    } catch (error) {
      if (error instanceof ApiError) showError(form, error);
      else throw error;
    } finally {
      button.disabled = false;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The session: every page but login and register needs one, and shows who is logged in.

async function requireSession() {
  try {
    const session = await api.get('/api/v1/auth/session');
    api.csrf = session.csrf_token;
    showNav(session.user);
    return session;
  } catch (error) {
    if (error.status === 401) {
      const next = encodeURIComponent(location.pathname + location.search);
      location.assign(`/login?next=${next}`);
      return new Promise(() => {});
    }
    throw error;
  }
}

function showNav(user) {
  const logout = el('button', {
    class: 'link', type: 'button', id: 'logout',
    onclick: async () => {
      await api.del('/api/v1/auth/session').catch(() => {});
      location.assign('/login');
    },
  }, 'Log out');
  const link = (href, label) => el('a', { href, 'aria-current': location.pathname === href ? 'page' : null }, label);
  document.getElementById('nav').replaceChildren(
    link('/bots', 'Bots'), link('/portfolio', 'Portfolio'), link('/account', 'Account'),
    el('span', { id: 'whoami' }, user.username),
    logout);
}

// Where to go after logging in: the page that sent us here, if it is one of ours.
function nextPage() {
  const next = new URLSearchParams(location.search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/bots';
}

// ---------------------------------------------------------------------------------------------
// Login and registration.

function loginPage() {
  setTitle('Log in');
  const form = el('form', { class: 'panel narrow', id: 'login-form', novalidate: true },
    el('h1', {}, 'Log in'),
    el('p', { class: 'form-error error', role: 'alert' }),
    field('username', 'Username', el('input', { autocomplete: 'username', required: true })),
    field('password', 'Password', el('input', { type: 'password', autocomplete: 'current-password', required: true })),
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Log in')),
    el('p', {}, 'No account yet? ', el('a', { href: '/register' }, 'Create one')));
  onSubmit(form, async (data) => {
    await api.post('/api/v1/auth/session', {
      username: data.get('username'), password: data.get('password'),
    });
    location.assign(nextPage());
  });
  show(form);
  form.querySelector('input').focus();
}

function registerPage() {
  setTitle('Create an account');
  const form = el('form', { class: 'panel narrow', id: 'register-form', novalidate: true },
    el('h1', {}, 'Create an account'),
    el('p', { class: 'form-error error', role: 'alert' }),
    field('email', 'Email', el('input', { type: 'email', autocomplete: 'email', required: true })),
    field('username', 'Username (3 to 32 of A–Z a–z 0–9 _ . -)', el('input', { autocomplete: 'username', required: true })),
    field('password', 'Password (at least 10 characters)', el('input', { type: 'password', autocomplete: 'new-password', required: true })),
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Create the account')),
    el('p', {}, 'Have an account? ', el('a', { href: '/login' }, 'Log in')));
  onSubmit(form, async (data) => {
    const credentials = { username: data.get('username'), password: data.get('password') };
    await api.post('/api/v1/auth/register', { email: data.get('email'), ...credentials });
    await api.post('/api/v1/auth/session', credentials);
    location.assign('/bots');
  });
  show(form);
  form.querySelector('input').focus();
}

// ---------------------------------------------------------------------------------------------
// Bots: the list with live status and controls, and the form that creates or edits one.

const INTERVALS = ['1s', '1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1M'];
const MODES = ['paper', 'testnet', 'live'];
const LIST_REFRESH_MS = 3000;

function statusBadge(bot) {
  return el('span', { class: `badge ${bot.status}`, 'data-status': bot.status }, bot.status);
}

// The start, pause and stop buttons that make sense for `bot`; `changed` runs after each.
function controls(bot, changed) {
  const act = (action, label, kind) => el('button', {
    type: 'button', class: kind || 'secondary', 'data-action': action,
    'aria-label': `${label} ${bot.name}`,
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        await api.post(`/api/v1/bots/${bot.id}/${action}`);
      } catch (error) {
        alert(error.message);
      }
      changed();
    },
  }, label);
  const buttons = [];
  if (!bot.is_active || bot.status === 'paused') buttons.push(act('start', 'Start'));
  if (bot.is_active && bot.status !== 'paused') buttons.push(act('pause', 'Pause'));
  if (bot.is_active) buttons.push(act('stop', 'Stop'));
  return buttons;
}

function botRow(bot, changed) {
  const remove = el('button', {
    type: 'button', class: 'danger', 'data-action': 'delete', 'aria-label': `Delete ${bot.name}`,
    onclick: async () => {
      if (!confirm(`Delete the bot "${bot.name}"? This cannot be undone.`)) return;
      try {
        await api.del(`/api/v1/bots/${bot.id}`);
      } catch (error) {
        alert(error.message);
      }
      changed();
    },
  }, 'Delete');
  const last = bot.last_trade;
  return el('tr', { 'data-bot': bot.id },
    el('td', {}, el('a', { href: `/bots/${bot.id}` }, bot.name)),
    el('td', {}, `${bot.symbol} ${bot.interval}`),
    el('td', {}, bot.mode),
    el('td', {}, statusBadge(bot)),
    el('td', { class: 'num' }, amount(bot.position.quantity)),
    el('td', { class: 'num' }, signed(bot.position.realized_pnl)),
    el('td', {}, last ? [el('span', { class: last.side.toLowerCase() }, last.side), ' ', amount(last.quantity), ' @ ', amount(last.price),
      el('div', { class: 'notice small' }, utc(last.executed_at_ms))] : '—'),
    el('td', { class: 'error' }, bot.last_error || ''),
    el('td', {}, el('div', { class: 'actions' }, controls(bot, changed),
      el('a', { href: `/bots/${bot.id}#edit` }, 'Edit'), remove)));
}

// The create (bot undefined) or edit form; `saved(bot)` runs after the API accepted it.
function botForm(bot, saved) {
  const params = (bot && bot.strategy_params) || {};
  const select = (options, value) => el('select', {},
    options.map((option) => el('option', { value: option, selected: option === value }, option)));
  const number = (value, attributes) => el('input', { type: 'number', value, ...attributes });
  const form = el('form', { class: 'panel', id: 'bot-form', novalidate: true },
    el('h2', {}, bot ? `Edit ${bot.name}` : 'New bot'),
    el('p', { class: 'form-error error', role: 'alert' }),
    el('div', { class: 'row' },
      field('name', 'Name', el('input', { value: bot ? bot.name : '', required: true, maxlength: 64 })),
      field('symbol', 'Symbol', el('input', { value: bot ? bot.symbol : 'BTCUSDT', required: true, autocapitalize: 'characters' })),
      field('interval', 'Interval', select(INTERVALS, bot ? bot.interval : '1m')),
      field('mode', 'Mode', select(MODES, bot ? bot.mode : 'paper')),
      field('quote_per_buy', 'Quote per BUY', el('input', { value: bot ? bot.quote_per_buy : '20', inputmode: 'decimal', required: true }))),
    el('div', { class: 'row' },
      field('fast', 'Fast EMA', number(params.fast ?? 12, { min: 1 })),
      field('slow', 'Slow EMA', number(params.slow ?? 26, { min: 2 })),
      field('rsi_period', 'RSI period', number(params.rsi_period ?? 14, { min: 1 })),
      field('overbought', 'RSI overbought', number(params.overbought ?? 70, { min: 0, max: 100, step: 'any' }))),
    el('span', { class: 'field-error', id: 'error-strategy_params', role: 'alert' }),
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, bot ? 'Save' : 'Create the bot')));
  onSubmit(form, async (data) => {
    const numberOf = (name) => (data.get(name) === '' ? undefined : Number(data.get(name)));
    const body = {
      name: data.get('name'), symbol: data.get('symbol').trim().toUpperCase(),
      interval: data.get('interval'), mode: data.get('mode'),
      quote_per_buy: data.get('quote_per_buy').trim(),
      strategy_params: {
        fast: numberOf('fast'), slow: numberOf('slow'),
        rsi_period: numberOf('rsi_period'), overbought: numberOf('overbought'),
      },
    };
    const answer = bot
      ? await api.patch(`/api/v1/bots/${bot.id}`, body)
      : await api.post('/api/v1/bots', { ...body, strategy: 'ema_rsi_cross' });
    saved(answer);
  });
  return form;
}

async function botsPage() {
  setTitle('Bots');
  await requireSession();
  const body = el('tbody', { id: 'bots-body' });
  const empty = el('p', { class: 'notice hidden', id: 'no-bots' }, 'No bot yet: create one below.');
  const table = el('div', { class: 'table-wrap' }, el('table', { id: 'bots' },
    el('caption', { class: 'hidden' }, 'Your bots'),
    el('thead', {}, el('tr', {},
      ['Name', 'Market', 'Mode', 'Status'].map((h) => el('th', { scope: 'col' }, h)),
      el('th', { scope: 'col', class: 'num' }, 'Position'),
      el('th', { scope: 'col', class: 'num' }, 'Realised PnL'),
      ['Last trade', 'Last error', 'Actions'].map((h) => el('th', { scope: 'col' }, h)))),
    body));
  const problem = el('p', { class: 'error', role: 'alert' });
  let refreshing = false;
  const refresh = async () => {
    if (refreshing) return;
    refreshing = true;
    try {
      const bots = await api.get('/api/v1/bots');
      body.replaceChildren(...bots.map((bot) => botRow(bot, refresh)));
      empty.classList.toggle('hidden', bots.length > 0);
      problem.textContent = '';
    } catch (error) {
      problem.textContent = error.message;
    } finally {
      refreshing = false;
    }
  };
  const form = botForm(undefined, (bot) => location.assign(`/bots/${bot.id}`));
  show(el('h1', {}, 'Bots'), problem, el('section', { class: 'panel' }, table, empty), form);
  await refresh();
  setInterval(refresh, LIST_REFRESH_MS);
}

// ---------------------------------------------------------------------------------------------
// A bot's page: the chart (candles, EMAs, RSI, trade markers) kept live by the updates stream,
// the decisions, the trades, and the controls.

const COLORS = {
  fast: '#0f5bd8', slow: '#b45309', rsi: '#6d28d9', buy: '#0b7a3e', sell: '#b42318', skip: '#8a5a00',
};

// Seconds since the epoch, the chart library's time.
const seconds = (ms) => Math.floor(ms / 1000);

class BotChart {
  constructor(container) {
    const { createChart, CandlestickSeries, LineSeries, createSeriesMarkers } = window.LightweightCharts;
    this.container = container;
    this.chart = createChart(container, {
      autoSize: true,
      layout: { attributionLogo: false, textColor: '#14171c', background: { color: '#ffffff' } },
      timeScale: { timeVisible: true, secondsVisible: true },
      localization: { timeFormatter: (time) => utc(time * 1000) },
    });
    this.candles = this.chart.addSeries(CandlestickSeries, {
      upColor: COLORS.buy, downColor: COLORS.sell, wickUpColor: COLORS.buy,
      wickDownColor: COLORS.sell, borderVisible: false,
    });
    const line = (color, pane) => this.chart.addSeries(LineSeries, {
      color, lineWidth: 2, priceLineVisible: false, lastValueVisible: false,
    }, pane);
    this.fast = line(COLORS.fast, 0);
    this.slow = line(COLORS.slow, 0);
    this.rsi = line(COLORS.rsi, 1);
    this.markers = createSeriesMarkers(this.candles, []);
    this.overbought = null;
    this.hovered = new Map();
    this.tooltip = el('div', { class: 'tooltip hidden', role: 'status' });
    container.append(this.tooltip);
    this.chart.subscribeCrosshairMove((param) => this.hover(param));
    const panes = this.chart.panes();
    if (panes[1]) panes[1].setHeight(130);
  }

  // Draws `data` (a ChartBody); keeps the user's zoom unless this is the first drawing.
  draw(data) {
    const candles = data.candles;
    const series = (key) => candles.map((c) => (c[key] === null
      ? { time: seconds(c.open_time_ms) }
      : { time: seconds(c.open_time_ms), value: c[key] }));
    this.candles.setData(candles.map((c) => ({
      time: seconds(c.open_time_ms), open: c.open, high: c.high, low: c.low, close: c.close,
    })));
    this.fast.setData(series('ema_fast'));
    this.slow.setData(series('ema_slow'));
    this.rsi.setData(series('rsi'));
    if (this.overbought) this.rsi.removePriceLine(this.overbought);
    this.overbought = this.rsi.createPriceLine({
      price: data.overbought, color: COLORS.sell, lineStyle: 2, lineWidth: 1, title: 'overbought',
    });
    const shown = new Set(candles.map((c) => c.open_time_ms));
    const markers = data.markers.filter((m) => shown.has(m.candle_open_ms));
    const skips = data.skips.filter((skip) => shown.has(skip.candle_open_ms));
    this.hovered = new Map([
      ...markers.map((m) => [`trade-${m.trade_id}`, () => tradeFacts(m)]),
      ...skips.map((skip, index) => [`skip-${skip.candle_open_ms}-${index}`, () => skipFacts(skip)]),
    ]);
    const tradeMarks = markers.map((m) => ({
      id: `trade-${m.trade_id}`,
      time: seconds(m.candle_open_ms),
      position: m.side === 'BUY' ? 'belowBar' : 'aboveBar',
      color: m.side === 'BUY' ? COLORS.buy : COLORS.sell,
      shape: m.side === 'BUY' ? 'arrowUp' : 'arrowDown',
      text: m.side,
    }));
    const skipMarks = skips.map((skip, index) => ({
      id: `skip-${skip.candle_open_ms}-${index}`, time: seconds(skip.candle_open_ms), position: 'aboveBar',
      color: COLORS.skip, shape: 'circle', text: 'skip',
    }));
    this.markers.setMarkers([...tradeMarks, ...skipMarks].sort((a, b) => a.time - b.time));
    this.container.dataset.candles = String(candles.length);
    this.container.dataset.markers = String(markers.length);
    this.container.dataset.skips = String(skips.length);
    if (candles.length > 0) this.container.dataset.lastCandle = String(candles[candles.length - 1].open_time_ms);
  }

  // Calls `handler(markerId)` when a marker is clicked.
  onMarkerClick(handler) {
    this.chart.subscribeClick((param) => {
      if (param.hoveredObjectId && this.hovered.has(param.hoveredObjectId)) handler(String(param.hoveredObjectId));
    });
  }

  // Shows the fill of the trade, or the reason of the skip, under the pointer.
  hover(param) {
    const facts = param.hoveredObjectId && this.hovered.get(param.hoveredObjectId);
    if (!facts || !param.point) {
      this.tooltip.classList.add('hidden');
      return;
    }
    this.tooltip.replaceChildren(facts());
    this.tooltip.classList.remove('hidden');
    const x = Math.min(param.point.x + 12, this.container.clientWidth - 220);
    this.tooltip.style.left = `${Math.max(0, x)}px`;
    this.tooltip.style.top = `${param.point.y + 12}px`;
  }
}

// A trade's fill as a definition list.
function tradeFacts(trade) {
  const facts = [
    ['Side', el('span', { class: trade.side.toLowerCase() }, trade.side)],
    ['Price', amount(trade.price)], ['Quantity', amount(trade.quantity)], ['Quote', amount(trade.quote_quantity)],
    ['Fee', [amount(trade.commission), ` ${trade.commission_asset}`]],
    ['Realised PnL', trade.realized_pnl === null ? '—' : signed(trade.realized_pnl)],
    ['Executed', utc(trade.executed_at_ms)], ['Signal candle', utc(trade.candle_open_ms)],
  ];
  return el('dl', { class: 'facts' }, facts.map(([name, value]) => [el('dt', {}, name), el('dd', {}, value)]));
}

// A skipped signal's reason as a definition list.
function skipFacts(skip) {
  return el('dl', { class: 'facts' },
    el('dt', {}, 'Skipped'), el('dd', {}, skip.reason),
    el('dt', {}, 'Signal candle'), el('dd', {}, utc(skip.candle_open_ms)),
    el('dt', {}, 'Decided'), el('dd', {}, utc(skip.at_ms)));
}

function decisionList(decisions, why) {
  if (decisions.length === 0) return el('p', { class: 'notice' }, 'No decision yet: the bot decides when a candle closes.');
  return el('ul', { class: 'decisions', id: 'decisions' }, decisions.map((d) => el('li', { 'data-kind': d.kind },
    el('span', { class: `kind ${d.kind === 'trade' ? 'buy' : ''}` }, d.kind),
    el('time', {}, utc(d.at_ms)), d.candle_open_ms === null ? '' : el('span', { class: 'notice small' }, ` · candle ${utc(d.candle_open_ms)} `),
    d.candle_open_ms === null ? '' : el('button', { type: 'button', class: 'link why', onclick: () => why({ candleMs: d.candle_open_ms }) }, 'Why?'),
    el('div', {}, d.message))));
}

// The "why" of the decision at one candle, from the chart's data: the indicators at the candle
// and the one before, the rule and what it gave, the sizing, and the outcome (the trade's fill
// or the skip's reason). `at` names the candle ({candleMs}) or a trade ({tradeId}).
function explain(data, bot, at) {
  const trade = at.tradeId === undefined ? data.markers.find((m) => m.candle_open_ms === at.candleMs)
    : data.markers.find((m) => m.trade_id === at.tradeId);
  const candleMs = at.candleMs ?? trade?.candle_open_ms;
  const index = data.candles.findIndex((c) => c.open_time_ms === candleMs);
  if (candleMs === undefined || index < 1) {
    return [el('p', { class: 'notice' }, 'This decision is outside the candles the chart shows: show more candles to explain it.')];
  }
  const c = data.candles[index];
  const before = data.candles[index - 1];
  const fmt = (v) => (v === null ? 'not yet defined' : v.toFixed(2));
  const up = c.ema_fast > c.ema_slow && before.ema_fast <= before.ema_slow;
  const down = c.ema_fast < c.ema_slow && before.ema_fast >= before.ema_slow;
  const cross = up ? `EMA ${data.fast} crossed above EMA ${data.slow}` : down ? `EMA ${data.fast} crossed below EMA ${data.slow}` : 'the EMAs did not cross';
  const rsi = c.rsi === null ? 'not yet defined' : c.rsi < data.overbought ? `below ${data.overbought}` : c.rsi > data.overbought ? `above ${data.overbought}` : `at ${data.overbought}`;
  const skip = data.skips.find((k) => k.candle_open_ms === candleMs);
  const decision = data.decisions.find((d) => d.candle_open_ms === candleMs);
  const steps = [
    ['Candle', `${utc(candleMs)}: open ${c.open}, high ${c.high}, low ${c.low}, close ${c.close}`],
    [`EMA ${data.fast}`, `${fmt(before.ema_fast)} → ${fmt(c.ema_fast)}`],
    [`EMA ${data.slow}`, `${fmt(before.ema_slow)} → ${fmt(c.ema_slow)}: ${cross}`],
    [`RSI ${data.rsi_period}`, `${fmt(c.rsi)}: ${rsi}`],
    ['Rule', `when flat, BUY when EMA ${data.fast} crosses above EMA ${data.slow} with RSI below ${data.overbought}; when long, SELL when it crosses below, or RSI is above ${data.overbought}`],
  ];
  if (trade) {
    steps.push(['Signal', el('span', { class: trade.side.toLowerCase() }, trade.side)]);
    steps.push(['Sizing', trade.side === 'BUY'
      ? `${bot.quote_per_buy} of the quote asset per BUY at the last price, rounded down to the symbol's step and checked against its filters: ${trade.quantity}`
      : `the position, rounded down to the symbol's step and checked against its filters: ${trade.quantity}`]);
    steps.push(['Outcome', tradeFacts(trade)]);
  } else if (skip) {
    steps.push(['Outcome', `no order: ${skip.reason}`]);
  } else {
    steps.push(['Outcome', decision ? `${decision.kind}: ${decision.message}` : 'no signal']);
  }
  return [el('dl', { class: 'facts why-steps' }, steps.map(([name, value]) => [el('dt', {}, name), el('dd', {}, value)])),
    el('p', { class: 'notice small' }, 'Indicators as the chart computes them, warmed up on candles before the first one shown: the bot\'s own agree to well below a pixel.')];
}

// Waits for the browser to have painted what was just put in the page.
const painted = () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));

// One page of trades as a table, newest last (the API's order).
function tradeRows(trades, why) {
  return trades.map((t) => el('tr', { 'data-trade': t.id },
    el('td', {}, utc(t.executed_at_ms)),
    el('td', {}, el('span', { class: t.side.toLowerCase() }, t.side)),
    el('td', { class: 'num' }, amount(t.price)), el('td', { class: 'num' }, amount(t.quantity_filled)),
    el('td', { class: 'num' }, amount(t.quote_quantity_filled)),
    el('td', { class: 'num' }, amount(t.commission), ` ${t.commission_asset}`),
    el('td', { class: 'num' }, t.realized_pnl === null ? '—' : signed(t.realized_pnl)),
    el('td', {}, el('button', { type: 'button', class: 'link why', onclick: () => why({ tradeId: t.id }) }, 'Why?'))));
}

// The bot's trades: pages of `pageSize` from GET /api/v1/trades, filtered by side and time, the
// CSV link following the filters. Each page's rendering is timed ('trades-render').
function tradesSection(botId, initialPageSize, why) {
  const body = el('tbody', {});
  const table = el('div', { class: 'table-wrap' }, el('table', { id: 'trades' },
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Executed'), el('th', { scope: 'col' }, 'Side'),
      ['Price', 'Quantity', 'Quote', 'Fee', 'Realised PnL'].map((h) => el('th', { scope: 'col', class: 'num' }, h)),
      el('th', { scope: 'col' }, el('span', { class: 'hidden' }, 'Explanation')))),
    body));
  const side = el('select', { id: 'trades-side' },
    el('option', { value: '' }, 'Both sides'), el('option', { value: 'BUY' }, 'BUY'), el('option', { value: 'SELL' }, 'SELL'));
  const from = el('input', { type: 'datetime-local', id: 'trades-from', step: 1 });
  const to = el('input', { type: 'datetime-local', id: 'trades-to', step: 1 });
  const csv = el('a', { id: 'trades-csv' }, 'CSV of these trades');
  const status = el('p', { class: 'notice', role: 'status' });
  const pageSize = el('select', { id: 'trades-page-size' },
    [100, 500].map((n) => el('option', { value: n, selected: n === initialPageSize }, `${n} per page`)));
  const next = el('button', { type: 'button', class: 'secondary', id: 'trades-next' }, 'Next page');
  const first = el('button', { type: 'button', class: 'secondary', id: 'trades-first' }, 'First page');
  let cursor = null;
  // The filters as a query: a datetime-local is read as UTC, like every time on the page.
  const filters = () => {
    const query = new URLSearchParams({ bot: botId });
    if (side.value) query.set('side', side.value);
    if (from.value) query.set('from_ms', Date.parse(`${from.value}Z`));
    if (to.value) query.set('to_ms', Date.parse(`${to.value}Z`));
    return query;
  };
  const load = async (pageCursor) => {
    const query = filters();
    csv.href = `/api/v1/trades.csv?${query}`;
    csv.setAttribute('download', `bot-${botId}-trades.csv`);
    query.set('limit', pageSize.value);
    if (pageCursor) query.set('cursor', pageCursor);
    try {
      const page = await api.get(`/api/v1/trades?${query}`);
      performance.mark('trades-fetched');
      body.replaceChildren(...tradeRows(page.trades, why));
      await painted();
      performance.measure('trades-render', 'trades-fetched');
      cursor = page.next_cursor;
      next.disabled = !cursor;
      first.disabled = !pageCursor;
      status.textContent = page.trades.length === 0 ? 'No trade matches.' : `${page.trades.length} trades on this page, oldest first.`;
    } catch (error) {
      status.textContent = error.message;
    }
  };
  next.addEventListener('click', () => load(cursor));
  first.addEventListener('click', () => load(null));
  for (const input of [side, from, to, pageSize]) input.addEventListener('change', () => load(null));
  const section = el('div', {},
    el('div', { class: 'row filters' },
      field('trades-side', 'Side', side), field('trades-from', 'From (UTC)', from),
      field('trades-to', 'Before (UTC)', to), field('trades-page-size', 'Rows', pageSize)),
    el('div', { class: 'actions' }, first, next, csv), status, table);
  return { section, load: () => load(null) };
}

function botFacts(bot) {
  const p = bot.strategy_params;
  const facts = [
    ['Status', statusBadge(bot)], ['Market', `${bot.symbol} ${bot.interval}`], ['Mode', bot.mode],
    ['Strategy', `${bot.strategy} fast ${p.fast} slow ${p.slow} RSI ${p.rsi_period} < ${p.overbought}`],
    ['Quote per BUY', bot.quote_per_buy], ['Position', amount(bot.position.quantity)],
    ['Cost', amount(bot.position.cost_quote)], ['Realised PnL', signed(bot.position.realized_pnl)],
  ];
  const summary = el('dl', { class: 'summary', id: 'bot-facts' },
    facts.map(([name, value]) => el('div', {}, el('dt', {}, name), el('dd', {}, value))));
  return bot.last_error ? [summary, el('p', { class: 'error', role: 'alert' }, `Last error: ${bot.last_error}`)] : summary;
}

async function botPage() {
  await requireSession();
  const id = Number(location.pathname.split('/')[2]);
  if (!Number.isInteger(id) || id < 1) {
    show(el('h1', {}, 'No such bot'), el('a', { href: '/bots' }, 'Back to the bots'));
    return;
  }
  let bot;
  try {
    bot = await api.get(`/api/v1/bots/${id}`);
  } catch (error) {
    show(el('h1', {}, error.status === 404 ? 'No such bot' : 'The bot cannot be read'),
      el('p', { class: 'error' }, error.message), el('a', { href: '/bots' }, 'Back to the bots'));
    return;
  }
  setTitle(bot.name);
  const heading = el('h1', {}, bot.name);
  const controlBox = el('div', { class: 'actions', id: 'controls' });
  const facts = el('div', {});
  const container = el('div', { class: 'chart', id: 'chart', role: 'img', 'aria-label': `Candle chart of ${bot.symbol} with the bot's EMAs, RSI and trades` });
  const chartProblem = el('p', { class: 'error', role: 'alert' });
  const decisions = el('div', {});
  // ?candles=N and ?rows=N choose the view, so a link can show it again.
  const view = new URLSearchParams(location.search);
  const whyPanel = el('section', { class: 'panel hidden', id: 'why', 'aria-live': 'polite' });
  let lastChart = null;
  const why = (at) => {
    whyPanel.replaceChildren(el('h2', {}, 'Why'), ...(lastChart ? explain(lastChart, bot, at) : []));
    whyPanel.classList.remove('hidden');
    whyPanel.scrollIntoView({ block: 'nearest' });
  };
  const trades = tradesSection(id, view.get('rows') === '500' ? 500 : 100, why);
  const candles = [500, 2000, 10000].includes(Number(view.get('candles'))) ? Number(view.get('candles')) : 500;
  const candleCount = el('select', { id: 'candle-count' },
    [500, 2000, 10000].map((n) => el('option', { value: n, selected: n === candles }, `${n.toLocaleString('en-US')} candles`)));
  const legend = el('div', { class: 'legend' });
  const edit = el('details', { id: 'edit' }, el('summary', {}, 'Edit the bot'));
  show(el('div', { class: 'page-head' }, heading, controlBox), el('section', { class: 'panel' }, facts),
    el('section', { class: 'panel' }, el('h2', {}, 'Chart'),
      el('div', { class: 'chart-head' }, legend, el('label', {}, 'Show ', candleCount)), chartProblem, container),
    whyPanel,
    el('div', { class: 'grid2' },
      el('section', { class: 'panel' }, el('h2', {}, 'Decisions'), decisions),
      el('section', { class: 'panel' }, el('h2', {}, 'Trades'), trades.section)),
    el('section', { class: 'panel' }, edit));
  if (location.hash === '#edit') edit.open = true;
  const chart = new BotChart(container);
  // A click on a marker explains its decision.
  chart.onMarkerClick((markerId) => {
    if (markerId.startsWith('trade-')) why({ tradeId: Number(markerId.slice(6)) });
    else if (markerId.startsWith('skip-')) why({ candleMs: Number(markerId.slice(5).split('-')[0]) });
  });

  const showBot = (current) => {
    bot = current;
    heading.textContent = bot.name;
    controlBox.replaceChildren(...controls(bot, refreshBot));
    facts.replaceChildren(...[botFacts(bot)].flat());
    const p = bot.strategy_params;
    legend.replaceChildren(el('span', { class: 'fast' }, `— EMA ${p.fast}`),
      el('span', { class: 'slow' }, `— EMA ${p.slow}`), el('span', { class: 'rsi' }, `— RSI ${p.rsi_period}`),
      el('span', {}, '▲ BUY  ▼ SELL  ● skipped signal (hover a marker for the fill or the reason, click it for why)'));
    edit.replaceChildren(el('summary', {}, 'Edit the bot'), botForm(bot, showBot));
  };
  async function refreshBot() {
    try { showBot(await api.get(`/api/v1/bots/${id}`)); } catch (error) { chartProblem.textContent = error.message; }
  }
  let loading = null;
  let again = false;
  const refreshChart = async () => {
    if (loading) { again = true; return; }
    loading = (async () => {
      try {
        const data = await api.get(`/api/v1/bots/${id}/chart?candles=${candleCount.value}`);
        performance.mark('chart-fetched');
        chart.draw(data);
        lastChart = data;
        await painted();
        performance.measure('chart-draw', 'chart-fetched');
        decisions.replaceChildren(decisionList(data.decisions, why));
        chartProblem.textContent = '';
      } catch (error) {
        chartProblem.textContent = error.message;
      }
    })();
    await loading;
    loading = null;
    if (again) { again = false; refreshChart(); }
  };
  showBot(bot);
  candleCount.addEventListener('change', refreshChart);
  await Promise.all([refreshChart(), trades.load()]);
  const updates = new EventSource(`/api/v1/bots/${id}/updates`);
  let tradeCount = Number(container.dataset.markers || 0);
  updates.addEventListener('update', async () => {
    await Promise.all([refreshChart(), refreshBot()]);
    // A new trade: the table's first page shows it when it fits there.
    const markers = Number(container.dataset.markers || 0);
    if (markers !== tradeCount) { tradeCount = markers; trades.load(); }
  });
}

// ---------------------------------------------------------------------------------------------
// Portfolio: every bot's realised PnL, its curve per bot and in total, and the balances of the
// user's account on each venue.

const CURVE_TRADES = 10000;
const PALETTE = ['#0f5bd8', '#b45309', '#6d28d9', '#0b7a3e', '#be185d', '#0e7490', '#4d7c0f', '#9f1239'];

// Every trade of the user, oldest first, in pages of 500 up to CURVE_TRADES; and whether that
// was all of them.
async function allTrades() {
  const trades = [];
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: 500 });
    if (cursor) query.set('cursor', cursor);
    const page = await api.get(`/api/v1/trades?${query}`);
    trades.push(...page.trades);
    cursor = page.next_cursor;
  } while (cursor && trades.length < CURVE_TRADES);
  return { trades, complete: !cursor };
}

// The realised-PnL curve of `trades` (cumulative, at each SELL), per bot and in total, as
// chart points (one per second at most: the chart needs increasing times).
function pnlCurves(trades) {
  const curves = new Map();
  const add = (key, time, value) => {
    const points = curves.get(key) || [];
    const last = points[points.length - 1];
    if (last && last.time === time) last.value = value; else points.push({ time, value });
    curves.set(key, points);
  };
  const perBot = new Map();
  let total = 0;
  for (const trade of trades) {
    if (trade.realized_pnl === null) continue;
    const pnl = Number(trade.realized_pnl);
    total += pnl;
    perBot.set(trade.bot_id, (perBot.get(trade.bot_id) || 0) + pnl);
    const time = seconds(trade.executed_at_ms);
    add('total', time, total);
    add(trade.bot_id, time, perBot.get(trade.bot_id));
  }
  return curves;
}

function pnlChart(container, curves, names) {
  const { createChart, LineSeries } = window.LightweightCharts;
  const chart = createChart(container, {
    autoSize: true,
    layout: { attributionLogo: false, textColor: '#14171c', background: { color: '#ffffff' } },
    timeScale: { timeVisible: true },
    localization: { timeFormatter: (time) => utc(time * 1000) },
  });
  const legend = [];
  let index = 0;
  for (const [key, points] of curves) {
    const color = key === 'total' ? '#14171c' : PALETTE[index++ % PALETTE.length];
    const series = chart.addSeries(LineSeries, { color, lineWidth: key === 'total' ? 3 : 2, title: key === 'total' ? 'total' : '' });
    series.setData(points);
    const swatch = el('span', { class: 'swatch' });
    swatch.style.background = color;
    legend.push(el('span', { 'data-series': key }, swatch, key === 'total' ? 'Total' : names.get(key) || `bot ${key}`));
  }
  chart.timeScale().fitContent();
  return legend;
}

function balancesTable(account) {
  const held = account.balances.filter((b) => Number(b.free) !== 0 || Number(b.locked) !== 0);
  if (held.length === 0) return el('p', { class: 'notice' }, 'Nothing held.');
  return el('div', { class: 'table-wrap' }, el('table', { class: 'balances' },
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Asset'),
      el('th', { scope: 'col', class: 'num' }, 'Free'), el('th', { scope: 'col', class: 'num' }, 'Locked'))),
    el('tbody', {}, held.map((b) => el('tr', { 'data-asset': b.asset }, el('td', {}, b.asset),
      el('td', { class: 'num' }, amount(b.free)), el('td', { class: 'num' }, amount(b.locked)))))));
}

// The user's account on `venue`: its balances, or why there is none to show.
async function venueBalances(venue) {
  try {
    const account = await api.get(`/api/v1/account/${venue}`);
    return el('section', { class: 'panel', 'data-venue': venue }, el('h2', {}, `${venue} balances`), balancesTable(account));
  } catch (error) {
    return el('section', { class: 'panel', 'data-venue': venue }, el('h2', {}, `${venue} balances`),
      el('p', { class: 'notice' }, error.message));
  }
}

async function portfolioPage() {
  setTitle('Portfolio');
  await requireSession();
  const [bots, performance, history] = await Promise.all([
    api.get('/api/v1/bots'), api.get('/api/v1/performance'), allTrades(),
  ]);
  const names = new Map(bots.map((bot) => [bot.id, bot.name]));
  const figures = new Map(performance.bots.map((p) => [p.bot_id, p]));
  const rows = bots.map((bot) => {
    const p = figures.get(bot.id) || {};
    return el('tr', { 'data-bot': bot.id },
      el('td', {}, el('a', { href: `/bots/${bot.id}` }, bot.name)), el('td', {}, `${bot.symbol} ${bot.interval}`),
      el('td', {}, bot.mode), el('td', {}, statusBadge(bot)),
      el('td', { class: 'num' }, String(p.trades ?? 0)), el('td', { class: 'num' }, p.win_rate ? `${(Number(p.win_rate) * 100).toFixed(1)} %` : '—'),
      el('td', { class: 'num' }, amount(p.fees_quote ?? '0')), el('td', { class: 'num' }, signed(p.realized_pnl ?? '0')));
  });
  const total = el('tr', { class: 'total' }, el('th', { scope: 'row', colspan: 4 }, 'All bots'),
    el('td', { class: 'num' }, String(performance.trades)),
    el('td', { class: 'num' }, performance.win_rate ? `${(Number(performance.win_rate) * 100).toFixed(1)} %` : '—'),
    el('td', { class: 'num' }, amount(performance.fees_quote)), el('td', { class: 'num', id: 'total-pnl' }, signed(performance.realized_pnl)));
  const table = el('div', { class: 'table-wrap' }, el('table', { id: 'portfolio' },
    el('thead', {}, el('tr', {}, ['Bot', 'Market', 'Mode', 'Status'].map((h) => el('th', { scope: 'col' }, h)),
      ['Trades', 'Win rate', 'Fees (quote)', 'Realised PnL'].map((h) => el('th', { scope: 'col', class: 'num' }, h)))),
    el('tbody', {}, rows), el('tfoot', {}, total)));
  const container = el('div', { class: 'chart short', id: 'pnl-chart', role: 'img', 'aria-label': 'Realised PnL over time, per bot and in total' });
  const curveNote = el('p', { class: 'notice' });
  show(el('h1', {}, 'Portfolio'),
    el('section', { class: 'panel' }, el('h2', {}, 'Bots'), table),
    el('section', { class: 'panel' }, el('h2', {}, 'Realised PnL over time'), curveNote, container),
    el('div', { class: 'grid3', id: 'balances' }));
  const curves = pnlCurves(history.trades);
  if (curves.size === 0) {
    curveNote.textContent = 'No SELL yet: the curve starts with the first realised PnL.';
  } else {
    const legend = pnlChart(container, curves, names);
    curveNote.replaceChildren(el('span', { class: 'legend' }, legend));
    if (!history.complete) curveNote.append(` (the first ${CURVE_TRADES.toLocaleString('en-US')} trades only)`);
  }
  container.dataset.curves = String(curves.size);
  // Only the accounts that exist: the venues this server trades where the user has a key (or
  // needs none), so that no request is bound to fail.
  const venues = (await api.get('/api/v1/venues')).filter((v) => !v.needs_key || v.key);
  const balances = await Promise.all(venues.map((v) => venueBalances(v.venue)));
  document.getElementById('balances').replaceChildren(...balances);
}

// ---------------------------------------------------------------------------------------------
// Account: the exchange keys per venue (the secret is sent once and never shown again) and the
// paper account's balances and reset.

function keyPanel(venue, refresh) {
  const panel = el('section', { class: 'panel', 'data-venue': venue }, el('h2', {}, `${venue} key`));
  const suffix = `-${venue}`;
  const form = el('form', { class: 'key-form', id: `key-form-${venue}`, 'data-suffix': suffix, novalidate: true },
    el('p', { class: 'form-error error', role: 'alert' }),
    field('api_key', 'API key', el('input', { autocomplete: 'off', required: true }), suffix),
    field('api_secret', 'Secret (HMAC key)', el('input', { type: 'password', autocomplete: 'off' }), suffix),
    field('private_key', 'or private key (Ed25519, PEM)', el('textarea', { rows: 3, autocomplete: 'off' }), suffix),
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Verify and store the key')));
  onSubmit(form, async (data) => {
    const body = { api_key: data.get('api_key').trim() };
    if (data.get('api_secret')) body.api_secret = data.get('api_secret');
    if (data.get('private_key').trim()) body.private_key = data.get('private_key');
    await api.call('PUT', `/api/v1/credentials/${venue}`, body);
    form.reset();
    refresh();
  });
  // Shows `stored`, the venue's key from GET /api/v1/venues (null when none is stored).
  const load = (stored) => {
    const remove = el('button', {
      type: 'button', class: 'danger', 'data-action': 'delete-key',
      onclick: async () => {
        if (!confirm(`Delete the ${venue} key? The ${venue} bots pause until a new one is stored.`)) return;
        try { await api.del(`/api/v1/credentials/${venue}`); } catch (error) { alert(error.message); }
        refresh();
      },
    }, 'Delete the key');
    const facts = stored
      ? el('dl', { class: 'summary' }, [
        ['Key', stored.api_key_prefix], ['Type', stored.key_type], ['Stored', utc(stored.set_at_ms)],
        ['Verified', utc(stored.verified_at_ms)], ['Can trade', stored.can_trade === null ? '—' : stored.can_trade ? 'yes' : 'no'],
        ['Permissions', stored.permissions.join(', ') || '—'],
      ].map(([name, value]) => el('div', {}, el('dt', {}, name), el('dd', {}, value))))
      : el('p', { class: 'notice' }, `No ${venue} key: store one to run ${venue} bots.`);
    form.querySelector('button[type="submit"]').textContent = stored ? 'Replace the key' : 'Verify and store the key';
    const actions = stored ? [el('div', { class: 'actions' }, remove)] : [];
    panel.replaceChildren(el('h2', {}, `${venue} key`), facts, ...actions, form);
  };
  return { panel, load };
}

async function paperPanel() {
  const panel = el('section', { class: 'panel', id: 'paper' });
  const load = async () => {
    const reset = el('button', {
      type: 'button', class: 'danger', id: 'paper-reset',
      onclick: async () => {
        if (!confirm('Reset the paper account to its starting balances? Paper bots keep running from a flat position.')) return;
        try { await api.post('/api/v1/account/paper/reset'); } catch (error) { alert(error.message); }
        load();
      },
    }, 'Reset the paper account');
    const balances = await venueBalances('paper');
    panel.replaceChildren(...balances.childNodes, el('div', { class: 'actions' }, reset));
  };
  await load();
  return panel;
}

async function accountPage() {
  setTitle('Account');
  const session = await requireSession();
  const venues = await api.get('/api/v1/venues');
  const keys = new Map();
  const refresh = async () => {
    for (const venue of await api.get('/api/v1/venues')) {
      if (keys.has(venue.venue)) keys.get(venue.venue).load(venue.key);
    }
  };
  for (const venue of venues.filter((v) => v.needs_key)) keys.set(venue.venue, keyPanel(venue.venue, refresh));
  const paper = venues.some((v) => v.venue === 'paper') ? await paperPanel() : null;
  show(el('h1', {}, 'Account'),
    el('p', { class: 'notice' }, `Logged in as ${session.user.username} (${session.user.email}). A key is verified with its exchange before it is stored, encrypted; its secret is never shown again.`),
    paper, ...[...keys.values()].map((key) => key.panel));
  for (const venue of venues) if (keys.has(venue.venue)) keys.get(venue.venue).load(venue.key);
}

// ---------------------------------------------------------------------------------------------

const PAGES = {
  login: loginPage, register: registerPage, bots: botsPage, bot: botPage,
  portfolio: portfolioPage, account: accountPage,
};

document.addEventListener('DOMContentLoaded', () => {
  const page = PAGES[document.body.dataset.page];
  Promise.resolve(page ? page() : null).catch((error) => {
    show(el('h1', {}, 'Something went wrong'), el('p', { class: 'error' }, error.message));
  });
});
