// The portfolio: every bot's realised PnL, its curve per bot and in total, and the balances of
// the user's account on each venue.

import { api } from './api.js';
import { amount, el, seconds, setTitle, show, signed, utc } from './dom.js';
import { requireSession } from './session.js';
import { statusBadge } from './page-bots.js';

export const CURVE_TRADES = 10000;
const PALETTE = ['#0f5bd8', '#b45309', '#6d28d9', '#0b7a3e', '#be185d', '#0e7490', '#4d7c0f', '#9f1239'];

// Every trade of the user (or those `filters` select, e.g. {bot: 7}), oldest first, in pages of
// 500 up to CURVE_TRADES; and whether that was all of them.
export async function allTrades(filters = {}) {
  const trades = [];
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: 500, ...filters });
    if (cursor) query.set('cursor', cursor);
    const page = await api.get(`/api/v1/trades?${query}`);
    trades.push(...page.trades);
    cursor = page.next_cursor;
  } while (cursor && trades.length < CURVE_TRADES);
  return { trades, complete: !cursor };
}

// The realised-PnL curve of `trades` (cumulative, at each SELL), per bot and in total, as
// chart points (one per second at most: the chart needs increasing times).
export function pnlCurves(trades) {
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

// Draws `curves` in `container`; the chart and its legend.
export function pnlChart(container, curves, names) {
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
  return { chart, legend };
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
export async function venueBalances(venue) {
  try {
    const account = await api.get(`/api/v1/account/${venue}`);
    return el('section', { class: 'panel', 'data-venue': venue }, el('h2', {}, `${venue} balances`), balancesTable(account));
  } catch (error) {
    return el('section', { class: 'panel', 'data-venue': venue }, el('h2', {}, `${venue} balances`),
      el('p', { class: 'notice' }, error.message));
  }
}

export async function portfolioPage() {
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
    const { legend } = pnlChart(container, curves, names);
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
