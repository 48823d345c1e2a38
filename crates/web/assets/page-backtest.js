// The backtest page: a candle file (one of the server's, or one the user uploads) run through
// the strategy on the server, the very run `spotbot backtest --json` makes, with the fee, the
// account and, when asked, a venue's exchange rules. It shows the figures, a candle chart with
// every trade, the equity and drawdown curves and the round trips. A sweep runs a grid of
// parameters in the background with its progress shown, then draws a heatmap of two of them
// ranked by a metric; a click on a cell opens that run.

import { api } from './api.js';
import { el, field, onSubmit, seconds, setTitle, show, utc } from './dom.js';
import { requireSession } from './session.js';
import { CandleChart, factList } from './candle-chart.js';

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
// The metrics a sweep ranks by: key, label, how it reads, and whether lower is better.
const RANKINGS = [
  ['total_return', 'Return', percent, false], ['sharpe', 'Sharpe', (v) => v.toFixed(3), false],
  ['profit_factor', 'Profit factor', (v) => v.toFixed(3), false], ['win_rate', 'Win rate', percent, false],
  ['max_drawdown', 'Max drawdown (lower is better)', percent, true],
];
const PARAMETERS = [['fast', 'Fast EMA'], ['slow', 'Slow EMA'], ['rsi_period', 'RSI period'], ['overbought', 'RSI overbought']];
const ROUND_TRIPS_SHOWN = 200;
const RANKED_ROWS = 20;
const POLL_MS = 250;

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

// A round trip's two fills as chart marks, and the skipped signals.
function runMarks(run) {
  const trip = (t) => factList([['Bought', `${utc(t.entry_time_ms)} at ${t.entry_price}`],
    ['Sold', `${utc(t.exit_time_ms)} at ${t.exit_price}`], ['Quantity', t.qty.toFixed(8)], ['PnL', t.pnl.toFixed(4)]]);
  return [
    ...run.round_trips.flatMap((t, index) => [
      { id: `trip-${index}-buy`, timeMs: t.entry_time_ms, kind: 'BUY', facts: () => trip(t) },
      { id: `trip-${index}-sell`, timeMs: t.exit_time_ms, kind: 'SELL', facts: () => trip(t) },
    ]),
    ...run.chart.skipped.map((skip, index) => ({
      id: `skip-${index}`, timeMs: skip.time_ms, kind: 'skip',
      facts: () => factList([['Skipped', `${skip.side}: ${skip.reason}`], ['Candle', utc(skip.time_ms)]]),
    })),
  ];
}

// The newest round trips, each with a button that shows it on the chart.
function roundTripsTable(roundTrips, showOnChart) {
  const shown = roundTrips.slice(-ROUND_TRIPS_SHOWN).reverse();
  return [el('p', { class: 'notice' }, roundTrips.length > ROUND_TRIPS_SHOWN
    ? `The last ${ROUND_TRIPS_SHOWN} of ${roundTrips.length} round trips, newest first.` : `${roundTrips.length} round trips, newest first.`),
  el('div', { class: 'table-wrap' }, el('table', { id: 'round-trips' },
    el('thead', {}, el('tr', {}, ['Bought', 'at', 'Sold', 'at', 'Quantity', 'PnL', ''].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, shown.map((t) => el('tr', {}, el('td', {}, utc(t.entry_time_ms)), el('td', { class: 'num' }, t.entry_price),
      el('td', {}, utc(t.exit_time_ms)), el('td', { class: 'num' }, t.exit_price), el('td', { class: 'num' }, t.qty.toFixed(8)),
      el('td', { class: `num ${t.pnl >= 0 ? 'positive' : 'negative'}` }, t.pnl.toFixed(4)),
      el('td', {}, el('button', { type: 'button', class: 'link', onclick: () => showOnChart(t) }, 'Show on chart')))))))];
}

// The file picker: the server's files and the user's uploads, an upload button and a delete
// button for a selected upload. An option's value is `source:name`.
function filePicker(files) {
  const option = (f) => el('option', { value: `${f.source}:${f.name}` }, `${f.name} (${(f.bytes / 1e6).toFixed(1)} MB)`);
  const select = el('select', {});
  const status = el('span', { class: 'notice small', role: 'status', id: 'upload-status' });
  const remove = el('button', { type: 'button', class: 'secondary', id: 'upload-delete' }, 'Delete this upload');
  const syncRemove = () => { remove.hidden = !select.value.startsWith('upload:'); };
  const setFiles = (list, selected) => {
    const server = list.filter((f) => f.source === 'server');
    const uploads = list.filter((f) => f.source === 'upload');
    select.replaceChildren(
      server.length ? el('optgroup', { label: 'On the server' }, server.map(option)) : '',
      uploads.length ? el('optgroup', { label: 'Your uploads' }, uploads.map(option)) : '');
    if (selected) select.value = selected;
    syncRemove();
  };
  const reload = async (selected) => setFiles(await api.get('/api/v1/backtests/files'), selected);
  const input = el('input', { type: 'file', accept: '.csv,text/csv', id: 'upload-file', class: 'hidden' });
  input.addEventListener('change', async () => {
    const file = input.files[0];
    if (!file) return;
    status.textContent = `Uploading ${file.name}…`;
    try {
      await api.put(`/api/v1/backtests/uploads/${encodeURIComponent(file.name)}`, file, 'text/csv');
      await reload(`upload:${file.name}`);
      status.textContent = `${file.name} uploaded: it is yours alone.`;
    } catch (error) {
      status.textContent = `${file.name}: ${error.message}`;
    }
    input.value = '';
  });
  select.addEventListener('change', syncRemove);
  remove.addEventListener('click', async () => {
    const name = select.value.slice('upload:'.length);
    if (!window.confirm(`Delete your upload ${name}?`)) return;
    try {
      await api.del(`/api/v1/backtests/uploads/${encodeURIComponent(name)}`);
      await reload(null);
      status.textContent = `${name} deleted.`;
    } catch (error) {
      status.textContent = error.message;
    }
  });
  setFiles(files, null);
  const upload = el('button', { type: 'button', class: 'secondary', id: 'upload-button', onclick: () => input.click() },
    'Upload a candle CSV (64 MB at most)');
  return el('div', {}, el('div', { class: 'row' }, field('file', 'Candle file', select)),
    el('div', { class: 'actions' }, upload, input, remove, status));
}

// The account fields both forms send: the file, fee, cash, quote per BUY and rules.
function accountBody(data) {
  const numberOf = (name) => (data.get(name) === '' || data.get(name) === null ? undefined : Number(data.get(name)));
  const [source, ...name] = String(data.get('file')).split(':');
  const body = {
    file: name.join(':'), source, fee: numberOf('fee'), cash: numberOf('cash'), quote_per_trade: numberOf('quote_per_trade'),
  };
  if (data.get('use_rules')) body.rules = { venue: data.get('rules_venue'), symbol: String(data.get('rules_symbol')).trim() };
  return body;
}

// The heatmap of `rows` over the parameters `x` and `y`: each cell the best value of `metric`
// among the rows with those two values. A click on a cell calls `open(row)` with its best row.
function heatmap(rows, x, y, metric, open) {
  const [key, label, read, lowerIsBetter] = RANKINGS.find(([k]) => k === metric);
  const better = (a, b) => (lowerIsBetter ? a < b : a > b);
  const valueOf = (row) => row.summary[key];
  const best = new Map();
  for (const row of rows) {
    const value = valueOf(row);
    if (value === null || value === undefined) continue;
    const cell = `${row[x]}|${row[y]}`;
    if (!best.has(cell) || better(value, valueOf(best.get(cell)))) best.set(cell, row);
  }
  const xs = [...new Set(rows.map((r) => r[x]))].sort((a, b) => a - b);
  const ys = [...new Set(rows.map((r) => r[y]))].sort((a, b) => a - b);
  const values = [...best.values()].map(valueOf);
  const low = Math.min(...values);
  const high = Math.max(...values);
  // Red for the worst cell, green for the best.
  const colour = (value) => {
    const share = high === low ? 1 : (value - low) / (high - low);
    const goodness = lowerIsBetter ? 1 - share : share;
    return `hsl(${Math.round(goodness * 120)}, 65%, ${Math.round(88 - goodness * 18)}%)`;
  };
  const xLabel = PARAMETERS.find(([k]) => k === x)[1];
  const yLabel = PARAMETERS.find(([k]) => k === y)[1];
  return el('div', { class: 'table-wrap' }, el('table', { class: 'heatmap', id: 'sweep-heatmap', 'data-metric': key },
    el('caption', {}, `Best ${label} for each ${xLabel} (across) and ${yLabel} (down); click a cell to open its run.`),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, `${yLabel} \\ ${xLabel}`), xs.map((v) => el('th', { scope: 'col' }, String(v))))),
    el('tbody', {}, ys.map((yValue) => el('tr', {}, el('th', { scope: 'row' }, String(yValue)), xs.map((xValue) => {
      const row = best.get(`${xValue}|${yValue}`);
      if (!row) return el('td', { class: 'empty' }, '—');
      const value = valueOf(row);
      const cell = el('td', {}, el('button', {
        type: 'button', class: 'cell', 'data-x': xValue, 'data-y': yValue, 'data-value': value,
        'aria-label': `${xLabel} ${xValue}, ${yLabel} ${yValue}: ${label} ${read(value)}; open this run`,
        onclick: () => open(row),
      }, read(value)));
      // Through the CSSOM: the CSP refuses style attributes.
      cell.style.backgroundColor = colour(value);
      return cell;
    }))))));
}

// The best `RANKED_ROWS` rows by `metric`, each with a button that opens its run.
function rankedTable(rows, metric, open) {
  const [key, label, read, lowerIsBetter] = RANKINGS.find(([k]) => k === metric);
  const ranked = rows.filter((r) => r.summary[key] !== null && r.summary[key] !== undefined)
    .sort((a, b) => (lowerIsBetter ? a.summary[key] - b.summary[key] : b.summary[key] - a.summary[key]))
    .slice(0, RANKED_ROWS);
  // The return is always shown; a second time only when it is not the ranking.
  const alsoReturn = key !== 'total_return';
  return el('div', { class: 'table-wrap' }, el('table', { id: 'sweep-ranked' },
    el('caption', {}, `The best ${ranked.length} of ${rows.length} by ${label}`),
    el('thead', {}, el('tr', {}, ['#', ...PARAMETERS.map(([, l]) => l), label, alsoReturn ? 'Return' : null, 'Round trips', '']
      .filter((h) => h !== null).map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, ranked.map((row, index) => el('tr', {},
      el('td', {}, String(index + 1)), PARAMETERS.map(([k]) => el('td', { class: 'num' }, String(row[k]))),
      el('td', { class: 'num' }, read(row.summary[key])), alsoReturn ? el('td', { class: 'num' }, percent(row.summary.total_return)) : null,
      el('td', { class: 'num' }, String(row.summary.round_trips)),
      el('td', {}, el('button', { type: 'button', class: 'link', onclick: () => open(row) }, 'Open')))))));
}

// What a sweep shows while it runs: a progress bar and a line that says where it is.
function sweepProgress(sweep, bar, text) {
  if (sweep.state === 'reading') {
    bar.max = Math.max(sweep.bytes, 1);
    bar.value = sweep.bytes_read;
    text.textContent = `Reading ${sweep.file}: ${Math.round((100 * sweep.bytes_read) / Math.max(sweep.bytes, 1))} %`;
  } else if (sweep.state === 'queued') {
    text.textContent = 'Waiting for a turn: other runs use the server\'s cores.';
  } else {
    bar.max = Math.max(sweep.total, 1);
    bar.value = sweep.done;
    text.textContent = `${sweep.done.toLocaleString('en-US')} of ${sweep.total.toLocaleString('en-US')} combinations run`;
  }
}

// The single-run form's fields, then the sweep's.
function runForm(picker, venues) {
  const number = (value, attributes) => el('input', { type: 'number', value, ...attributes });
  const useRules = el('input', { type: 'checkbox', value: 'yes' });
  return el('form', { class: 'panel', id: 'backtest-form', novalidate: true },
    el('p', { class: 'form-error error', role: 'alert' }),
    picker,
    el('div', { class: 'row' },
      field('fast', 'Fast EMA', number(9, { min: 1 })), field('slow', 'Slow EMA', number(21, { min: 2 })),
      field('rsi_period', 'RSI period', number(14, { min: 1 })), field('overbought', 'RSI overbought', number(70, { step: 'any' }))),
    el('div', { class: 'row' },
      field('fee', 'Fee per fill (fraction)', number(0.001, { step: 'any' })), field('cash', 'Starting cash', number(10000, { step: 'any' })),
      field('quote_per_trade', 'Quote per BUY (empty: all the cash)', number('', { step: 'any' }))),
    el('div', { class: 'row' },
      el('div', { class: 'field checkbox' }, el('label', {}, useRules, ' Size orders with an exchange\'s rules')),
      field('rules_venue', 'Venue', el('select', {}, venues.map((v) => el('option', { value: v }, v)))),
      field('rules_symbol', 'Symbol', el('input', { type: 'text', value: 'BTCUSDT', autocomplete: 'off' }))),
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Run the backtest')));
}

function sweepForm() {
  const text = (value) => el('input', { type: 'text', value, autocomplete: 'off', spellcheck: 'false' });
  const choose = (name, options, selected) => el('select', {}, options.map(([value, label]) => el('option', { value, selected: value === selected }, label)));
  const form = el('form', { class: 'panel', id: 'sweep-form', novalidate: true, 'data-suffix': '-sweep' },
    el('h2', {}, 'Sweep'),
    el('p', { class: 'notice small' }, 'Each parameter takes a value (9), a list (9,12,21), or a range with an optional step (5..20 or 20..60:5). The file, fee, cash, quote and rules are those above. At most 5,000 combinations.'),
    el('p', { class: 'form-error error', role: 'alert' }),
    el('div', { class: 'row' },
      field('fast', 'Fast EMAs', text('5..15'), '-sweep'), field('slow', 'Slow EMAs', text('20..40:5'), '-sweep'),
      field('rsi_period', 'RSI periods', text('14'), '-sweep'), field('overbought', 'Overbought levels', text('60..80:10'), '-sweep')),
    el('div', { class: 'row' },
      field('x', 'Across', choose('x', PARAMETERS, 'fast'), '-sweep'), field('y', 'Down', choose('y', PARAMETERS, 'slow'), '-sweep'),
      field('metric', 'Ranked by', choose('metric', RANKINGS.map(([k, l]) => [k, l]), 'total_return'), '-sweep')),
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Run the sweep')));
  return form;
}

export async function backtestPage() {
  setTitle('Backtest');
  await requireSession();
  const [files, venues] = await Promise.all([api.get('/api/v1/backtests/files'), api.get('/api/v1/venues')]);
  const runStatus = el('p', { class: 'notice', role: 'status', id: 'backtest-status' });
  const results = el('div', { id: 'backtest-results' });
  const sweepStatus = el('p', { class: 'notice', role: 'status', id: 'sweep-status' });
  const sweepBar = el('progress', { id: 'sweep-progress', max: 1, value: 0, class: 'hidden' });
  const sweepResults = el('div', { id: 'sweep-results' });
  const form = runForm(filePicker(files), venues.map((v) => v.venue));
  const sweeping = sweepForm();
  show(el('h1', {}, 'Backtest'),
    files.length === 0 ? el('p', { class: 'notice', id: 'no-files' }, 'This server offers no candle file of its own: upload one (its operator can also set [api] candles_dir).') : null,
    form, runStatus, results, sweeping, sweepBar, sweepStatus, sweepResults);

  let lastRequest = null;
  const runBacktest = async (body) => {
    runStatus.textContent = `Running on the server over ${body.file}…`;
    const started = performance.now();
    const run = await api.post('/api/v1/backtests', body);
    lastRequest = body;
    runStatus.textContent = `Done in ${((performance.now() - started) / 1000).toFixed(2)} s.`;
    drawRun(run);
  };
  const drawRun = (run) => {
    const candles = el('div', { class: 'chart', id: 'backtest-chart', role: 'img', 'aria-label': 'Candle chart of the backtest with its indicators and trades' });
    const equity = el('div', { class: 'chart', id: 'equity-chart', role: 'img', 'aria-label': 'Equity and drawdown over the backtest' });
    const shown = run.chart.candles;
    const first = shown.length ? shown[0].open_time_ms : null;
    const last = shown.length ? shown[shown.length - 1].open_time_ms : null;
    const span = shown.length ? `${shown.length.toLocaleString('en-US')} candles, ${utc(first)} to ${utc(last)}` : 'no candle';
    const chart = new CandleChart(candles);
    const showOnChart = async (trip) => {
      const inside = shown.length && trip.entry_time_ms >= first && trip.exit_time_ms <= last;
      if (inside) {
        chart.showRange(trip.entry_time_ms - 60 * 60_000, trip.exit_time_ms + 60 * 60_000);
        candles.scrollIntoView({ block: 'nearest' });
        return;
      }
      await runBacktest({ ...lastRequest, chart_around_ms: trip.entry_time_ms });
      document.getElementById('backtest-chart').scrollIntoView({ block: 'nearest' });
    };
    results.replaceChildren(
      el('section', { class: 'panel' }, el('h2', {}, 'Figures'), metricsTable(run.summary)),
      el('section', { class: 'panel' }, el('h2', {}, 'Chart'),
        el('p', { class: 'notice small', id: 'backtest-chart-span' }, `${span} of the file's ${utc(run.chart.first_ms)} to ${utc(run.chart.last_ms)}; "Show on chart" on a round trip moves it there. Hover a marker for its fill.`),
        candles),
      el('section', { class: 'panel' }, el('h2', {}, 'Equity and drawdown'), equity),
      el('section', { class: 'panel' }, el('h2', {}, 'Round trips'), ...roundTripsTable(run.round_trips, showOnChart)));
    chart.draw(shown, run.summary.strategy.overbought, runMarks(run));
    equityChart(equity, run.equity);
  };

  onSubmit(form, async (data) => {
    const numberOf = (name) => (data.get(name) === '' ? undefined : Number(data.get(name)));
    results.replaceChildren();
    try {
      await runBacktest({
        ...accountBody(data), fast: numberOf('fast'), slow: numberOf('slow'), rsi_period: numberOf('rsi_period'), overbought: numberOf('overbought'),
      });
    } catch (error) {
      runStatus.textContent = '';
      throw error;
    }
  });

  // A sweep's row opens as a single run: its parameters put in the form, the form submitted.
  const openRow = (row) => {
    for (const [key] of PARAMETERS) form.elements[key].value = row[key];
    form.scrollIntoView({ block: 'start' });
    form.requestSubmit();
  };
  let lastSweep = null;
  const drawSweep = () => {
    if (!lastSweep) return;
    const data = new FormData(sweeping);
    const [x, y, metric] = ['x', 'y', 'metric'].map((name) => data.get(name));
    if (x === y) {
      sweepResults.replaceChildren(el('p', { class: 'error' }, 'Choose two different parameters for across and down.'));
      return;
    }
    sweepResults.replaceChildren(el('section', { class: 'panel' }, el('h2', {}, 'Heatmap'), heatmap(lastSweep.rows, x, y, metric, openRow)),
      el('section', { class: 'panel' }, el('h2', {}, 'Ranked'), rankedTable(lastSweep.rows, metric, openRow)));
  };
  for (const name of ['x', 'y', 'metric']) sweeping.elements[name].addEventListener('change', drawSweep);
  onSubmit(sweeping, async (data) => {
    const body = { ...accountBody(new FormData(form)) };
    for (const [key] of PARAMETERS) if (String(data.get(key)).trim()) body[key] = String(data.get(key)).trim();
    sweepResults.replaceChildren();
    lastSweep = null;
    const started = await api.post('/api/v1/backtests/sweeps', body);
    sweepBar.classList.remove('hidden');
    let sweep = started;
    while (sweep.state !== 'done' && sweep.state !== 'failed') {
      sweepProgress(sweep, sweepBar, sweepStatus);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      sweep = await api.get(`/api/v1/backtests/sweeps/${sweep.id}`);
    }
    sweepBar.classList.add('hidden');
    if (sweep.state === 'failed') {
      sweepStatus.textContent = `The sweep failed: ${sweep.error}`;
      return;
    }
    sweepStatus.textContent = `${sweep.total.toLocaleString('en-US')} combinations run over ${sweep.file}.`;
    lastSweep = sweep;
    drawSweep();
  });
}
