// The bots page: the list with live status and controls, and the form that creates or edits
// a bot (also used on a bot's own page).

import { api } from './api.js';
import { amount, el, field, onSubmit, setTitle, show, signed, utc } from './dom.js';
import { requireSession } from './session.js';

const INTERVALS = ['1s', '1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1M'];
const MODES = ['paper', 'testnet', 'live'];
const LIST_REFRESH_MS = 3000;

export function statusBadge(bot) {
  return el('span', { class: `badge ${bot.status}`, 'data-status': bot.status }, bot.status);
}

// The start, pause and stop buttons that make sense for `bot`; `changed` runs after each.
export function controls(bot, changed) {
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
export function botForm(bot, saved) {
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

export async function botsPage() {
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
