// A bot's page: the chart (candles, EMAs, RSI, trade and skip markers) kept live by the
// updates stream, the why of each decision, the decisions, the trades, and the controls.

import { api } from './api.js';
import { amount, el, field, painted, seconds, setTitle, show, signed, utc } from './dom.js';
import { CandleChart, factList } from './candle-chart.js';
import { requireSession } from './session.js';
import { botForm, controls, statusBadge } from './page-bots.js';
import { CURVE_TRADES, allTrades, pnlChart, pnlCurves } from './page-portfolio.js';

// A trade's fill as a definition list.
function tradeFacts(trade) {
  const facts = [
    ['Side', el('span', { class: trade.side.toLowerCase() }, trade.side)],
    ['Price', amount(trade.price)], ['Quantity', amount(trade.quantity)], ['Quote', amount(trade.quote_quantity)],
    ['Fee', [amount(trade.commission), ` ${trade.commission_asset}`]],
    ['Realised PnL', trade.realized_pnl === null ? '—' : signed(trade.realized_pnl)],
    ['Executed', utc(trade.executed_at_ms)], ['Signal candle', utc(trade.candle_open_ms)],
  ];
  return factList(facts);
}

// A skipped signal's reason as a definition list.
function skipFacts(skip) {
  return factList([['Skipped', skip.reason], ['Signal candle', utc(skip.candle_open_ms)], ['Decided', utc(skip.at_ms)]]);
}

// The chart's markers: the bot's trades and its skipped signals.
function chartMarks(data) {
  return [
    ...data.markers.map((m) => ({ id: `trade-${m.trade_id}`, timeMs: m.candle_open_ms, kind: m.side, facts: () => tradeFacts(m) })),
    ...data.skips.map((skip, index) => ({
      id: `skip-${skip.candle_open_ms}-${index}`, timeMs: skip.candle_open_ms, kind: 'skip', facts: () => skipFacts(skip),
    })),
  ];
}

function decisionList(decisions, why) {
  if (decisions.length === 0) return el('p', { class: 'notice' }, 'No decision yet: the bot decides when a candle closes.');
  return el('ul', { class: 'decisions', id: 'decisions' }, decisions.map((d) => el('li', { 'data-kind': d.kind },
    el('span', { class: `kind ${d.kind === 'trade' ? 'buy' : ''}` }, d.kind),
    el('time', {}, utc(d.at_ms)), d.candle_open_ms === null ? '' : el('span', { class: 'notice small' }, ` · candle ${utc(d.candle_open_ms)} `),
    d.candle_open_ms === null ? '' : el('button', { type: 'button', class: 'link why', onclick: () => why({ candleMs: d.candle_open_ms }) }, 'Why?'),
    el('div', {}, d.message))));
}

// The "why" of the decision at one candle: what the engine recorded when it decided (the
// strategy's readings and rule, the position, the signal, the price and each sizing step), then
// the outcome (the trade's fill or the skip's reason). Decisions recorded before the engine kept
// its why are explained from the chart's own indicators. `at` names the candle ({candleMs}) or
// a trade ({tradeId}).
function explain(data, bot, at) {
  const trade = at.tradeId === undefined ? data.markers.find((m) => m.candle_open_ms === at.candleMs)
    : data.markers.find((m) => m.trade_id === at.tradeId);
  const candleMs = at.candleMs ?? trade?.candle_open_ms;
  const skip = data.skips.find((k) => k.candle_open_ms === candleMs);
  const decision = data.decisions.find((d) => d.candle_open_ms === candleMs);
  const outcome = trade ? tradeFacts(trade) : skip ? `no order: ${skip.reason}`
    : decision ? `${decision.kind}: ${decision.message}` : 'no signal';
  const recorded = trade?.why ?? skip?.why ?? decision?.why;
  const candle = data.candles.find((c) => c.open_time_ms === candleMs);
  const candleText = candle ? `${utc(candleMs)}: open ${candle.open}, high ${candle.high}, low ${candle.low}, close ${candle.close}` : utc(candleMs);
  if (recorded) return recordedWhy(recorded, candleText, outcome);
  return computedWhy(data, bot, candleMs, trade, outcome);
}

// The why the engine recorded.
function recordedWhy(why, candleText, outcome) {
  const number = (value) => (value === null ? 'not yet defined' : value.toFixed(2));
  const steps = [
    ['Candle', candleText],
    ...why.readings.map((reading) => [reading.name, number(reading.value)]),
    ['Rule', why.rule],
    ['Position', `${why.position} (holding ${why.held})`],
    ['Signal', why.signal ? el('span', { class: why.signal.toLowerCase() }, why.signal) : 'none'],
  ];
  if (why.price) steps.push(['Price', why.price]);
  if (why.sizing.length > 0) steps.push(['Sizing', el('ol', { class: 'sizing-steps' }, why.sizing.map((step) => el('li', {}, step)))]);
  steps.push(['Outcome', outcome]);
  return [factList(steps, 'facts why-steps'), el('p', { class: 'notice small' }, 'As the engine recorded it when it decided.')];
}

// The why of a decision recorded before the engine kept one, from the chart's indicators (warmed
// up on candles before the first one shown: the bot's own agree to well below a pixel).
function computedWhy(data, bot, candleMs, trade, outcome) {
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
      ? `${bot.quote_per_buy} of the quote asset per BUY at the best ask (what a MARKET BUY pays first), rounded down to the symbol's step and checked against its filters: ${trade.quantity}`
      : `the position, rounded down to the symbol's step and checked against its filters: ${trade.quantity}`]);
  }
  steps.push(['Outcome', outcome]);
  return [factList(steps, 'facts why-steps'), el('p', { class: 'notice small' }, 'Recorded before the engine kept its why: explained from the chart\'s indicators.')];
}

// One page of trades as a table, newest first.
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
    query.set('order', 'newest');
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
      status.textContent = page.trades.length === 0 ? 'No trade matches.' : `${page.trades.length} trades on this page, newest first.`;
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

// The base quantity the bot held after each of `trades` (oldest first), as chart points (one
// per second at most). Shown, not computed with: f64 is exact enough for a line.
function positionCurve(trades) {
  const points = [];
  let held = 0;
  for (const trade of trades) {
    held += (trade.side === 'BUY' ? 1 : -1) * Number(trade.quantity_filled);
    const time = seconds(trade.executed_at_ms);
    const last = points[points.length - 1];
    if (last && last.time === time) last.value = held; else points.push({ time, value: held });
  }
  return points;
}

// The bot's realised PnL and, in a pane below, its position over time, drawn again (all its
// trades read) each time `load` is called.
function pnlSection(bot) {
  const container = el('div', { class: 'chart', id: 'bot-pnl-chart', role: 'img', 'aria-label': 'The bot\'s realised PnL and position over time' });
  const note = el('p', { class: 'notice' });
  let drawn = null;
  const load = async () => {
    const history = await allTrades({ bot: bot.id });
    const curve = pnlCurves(history.trades).get(bot.id) || [];
    const position = positionCurve(history.trades);
    if (drawn) drawn.remove();
    drawn = null;
    container.dataset.points = String(curve.length);
    container.dataset.positionPoints = String(position.length);
    if (position.length === 0) {
      note.textContent = 'No trade yet: the curves start with the first one.';
      return;
    }
    drawn = pnlChart(container, new Map([[bot.id, curve]]), new Map([[bot.id, 'realised PnL']])).chart;
    const { LineSeries } = window.LightweightCharts;
    drawn.addSeries(LineSeries, { color: '#0e7490', lineWidth: 2, lineType: 1, title: `position (${bot.symbol} base)` }, 1)
      .setData(position);
    const sells = `${curve.length} SELL${curve.length === 1 ? '' : 's'}`;
    note.textContent = history.complete ? `Realised PnL at each of ${sells}; below, the base quantity held.`
      : `The first ${CURVE_TRADES.toLocaleString('en-US')} trades only.`;
  };
  return { section: el('section', { class: 'panel' }, el('h2', {}, 'Realised PnL and position over time'), note, container), load };
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

export async function botPage() {
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
  const pnl = pnlSection(bot);
  const whyPanel = el('section', { class: 'panel hidden', id: 'why', 'aria-live': 'polite' });
  let lastChart = null;
  const why = async (at) => {
    // A trade newer than the chart drawn (the table may show it first): draw the chart again.
    const unseen = at.tradeId !== undefined && !(lastChart?.markers ?? []).some((m) => m.trade_id === at.tradeId);
    if (unseen) await refreshChart();
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
    pnl.section,
    el('section', { class: 'panel' }, edit));
  if (location.hash === '#edit') edit.open = true;
  const chart = new CandleChart(container);
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
        chart.draw(data.candles, data.overbought, chartMarks(data));
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
  // The curves read every trade: after the chart and the table, which people look at first.
  await pnl.load();
  const updates = new EventSource(`/api/v1/bots/${id}/updates`);
  let tradeCount = Number(container.dataset.markers || 0);
  updates.addEventListener('update', async () => {
    await Promise.all([refreshChart(), refreshBot()]);
    // A new trade: the table's first page shows it when it fits there.
    const markers = Number(container.dataset.markers || 0);
    if (markers !== tradeCount) { tradeCount = markers; trades.load(); pnl.load(); }
  });
}
