// The backtest page: one of the server's candle files run through the strategy on the server
// (the very run `spotbot backtest --json` makes), its figures, its equity and drawdown curves,
// and its round trips.

import { api } from './api.js';
import { el, field, onSubmit, seconds, setTitle, show, utc } from './dom.js';
import { requireSession } from './session.js';

// The figures shown, in order: the summary's key, its label, and how it reads.
const percent = (v) => `${(v * 100).toFixed(2)} %`;
const METRICS = [
  ['candles', 'Candles', String], ['round_trips', 'Round trips', String],
  ['starting_cash', 'Starting cash', String], ['final_equity', 'Final equity', (v) => v.toFixed(4)],
  ['total_return', 'Return', percent], ['max_drawdown', 'Max drawdown', percent],
  ['win_rate', 'Win rate', percent], ['profit_factor', 'Profit factor', (v) => v.toFixed(3)],
  ['sharpe', 'Sharpe (daily, annualised)', (v) => v.toFixed(3)], ['total_fees', 'Fees', (v) => v.toFixed(4)],
  ['exposure', 'Exposure', percent], ['skipped_orders', 'Signals without an order', String],
];
const ROUND_TRIPS_SHOWN = 200;

// The figures as a table; each value's exact number is in its data-value.
function metricsTable(summary) {
  return el('table', { id: 'backtest-metrics' }, el('tbody', {}, METRICS.map(([key, label, read]) => {
    const value = summary[key];
    const shown = value === null || value === undefined ? 'n/a' : read(value);
    return el('tr', { 'data-metric': key, 'data-value': value === null || value === undefined ? '' : String(value) },
      el('th', { scope: 'row' }, label), el('td', { class: 'num' }, shown));
  })));
}

// The equity curve and, in a pane below, the drawdown from its running peak.
function equityChart(container, equity) {
  const { createChart, LineSeries, AreaSeries } = window.LightweightCharts;
  const chart = createChart(container, {
    autoSize: true,
    layout: { attributionLogo: false, textColor: '#14171c', background: { color: '#ffffff' } },
    timeScale: { timeVisible: true },
    localization: { timeFormatter: (time) => utc(time * 1000) },
  });
  const points = [];
  const drawdown = [];
  let peak = -Infinity;
  for (const [timeMs, value] of equity) {
    const time = seconds(timeMs);
    if (points.length > 0 && points[points.length - 1].time >= time) continue;
    peak = Math.max(peak, value);
    points.push({ time, value });
    drawdown.push({ time, value: peak > 0 ? (value / peak - 1) * 100 : 0 });
  }
  chart.addSeries(LineSeries, { color: '#0f5bd8', lineWidth: 2, title: 'equity' }).setData(points);
  chart.addSeries(AreaSeries, {
    lineColor: '#b42318', topColor: 'rgba(180, 35, 24, 0.05)', bottomColor: 'rgba(180, 35, 24, 0.35)',
    lineWidth: 1, title: 'drawdown %', invertFilledArea: true,
  }, 1).setData(drawdown);
  chart.timeScale().fitContent();
}

function roundTripsTable(roundTrips) {
  const shown = roundTrips.slice(-ROUND_TRIPS_SHOWN).reverse();
  return [el('p', { class: 'notice' }, roundTrips.length > ROUND_TRIPS_SHOWN
    ? `The last ${ROUND_TRIPS_SHOWN} of ${roundTrips.length} round trips, newest first.` : `${roundTrips.length} round trips, newest first.`),
  el('div', { class: 'table-wrap' }, el('table', { id: 'round-trips' },
    el('thead', {}, el('tr', {}, ['Bought', 'at', 'Sold', 'at', 'Quantity', 'PnL'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, shown.map((t) => el('tr', {}, el('td', {}, utc(t.entry_time_ms)), el('td', { class: 'num' }, t.entry_price),
      el('td', {}, utc(t.exit_time_ms)), el('td', { class: 'num' }, t.exit_price), el('td', { class: 'num' }, t.qty.toFixed(8)),
      el('td', { class: `num ${t.pnl >= 0 ? 'positive' : 'negative'}` }, t.pnl.toFixed(4)))))))];
}

export async function backtestPage() {
  setTitle('Backtest');
  await requireSession();
  const files = await api.get('/api/v1/backtests/files');
  if (files.length === 0) {
    show(el('h1', {}, 'Backtest'), el('p', { class: 'notice' },
      'This server offers no candle file to backtest: its operator sets [api] candles_dir (or --candles-dir).'));
    return;
  }
  const number = (value, attributes) => el('input', { type: 'number', value, ...attributes });
  const form = el('form', { class: 'panel', id: 'backtest-form', novalidate: true },
    el('p', { class: 'form-error error', role: 'alert' }),
    el('div', { class: 'row' },
      field('file', 'Candle file', el('select', {}, files.map((f) => el('option', { value: f.name }, `${f.name} (${(f.bytes / 1e6).toFixed(1)} MB)`)))),
      field('fast', 'Fast EMA', number(9, { min: 1 })), field('slow', 'Slow EMA', number(21, { min: 2 })),
      field('rsi_period', 'RSI period', number(14, { min: 1 })), field('overbought', 'RSI overbought', number(70, { step: 'any' }))),
    el('div', { class: 'row' },
      field('fee', 'Fee per fill (fraction)', number(0.001, { step: 'any' })), field('cash', 'Starting cash', number(10000, { step: 'any' })),
      field('quote_per_trade', 'Quote per BUY (empty: all the cash)', number('', { step: 'any' }))),
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Run the backtest')));
  const status = el('p', { class: 'notice', role: 'status', id: 'backtest-status' });
  const results = el('div', { id: 'backtest-results' });
  show(el('h1', {}, 'Backtest'), form, status, results);
  onSubmit(form, async (data) => {
    const numberOf = (name) => (data.get(name) === '' ? undefined : Number(data.get(name)));
    const body = {
      file: data.get('file'), fast: numberOf('fast'), slow: numberOf('slow'), rsi_period: numberOf('rsi_period'),
      overbought: numberOf('overbought'), fee: numberOf('fee'), cash: numberOf('cash'), quote_per_trade: numberOf('quote_per_trade'),
    };
    status.textContent = `Running on the server over ${body.file}…`;
    results.replaceChildren();
    const started = performance.now();
    try {
      const run = await api.post('/api/v1/backtests', body);
      status.textContent = `Done in ${((performance.now() - started) / 1000).toFixed(2)} s.`;
      const container = el('div', { class: 'chart', id: 'equity-chart', role: 'img', 'aria-label': 'Equity and drawdown over the backtest' });
      results.replaceChildren(
        el('section', { class: 'panel' }, el('h2', {}, 'Figures'), metricsTable(run.summary)),
        el('section', { class: 'panel' }, el('h2', {}, 'Equity and drawdown'), container),
        el('section', { class: 'panel' }, el('h2', {}, 'Round trips'), ...roundTripsTable(run.round_trips)));
      equityChart(container, run.equity);
    } catch (error) {
      status.textContent = '';
      throw error;
    }
  });
}
