// Draws a backtest report from the JSON in #report-data: the metrics, the candle chart with the
// strategy's EMAs, its RSI below and every trade marked, the equity and drawdown, the monthly
// returns and the trade list. Text goes in with textContent only: a file name or anything else
// in the data is shown, never run.
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const { createChart, CandlestickSeries, LineSeries, AreaSeries, createSeriesMarkers } = window.LightweightCharts;
  const colors = { fast: '#0f5bd8', slow: '#b45309', rsi: '#6d28d9', buy: '#0b7a3e', sell: '#b42318', equity: '#0f5bd8', drawdown: '#b42318' };

  const utc = (ms) => `${new Date(ms).toISOString().replace('T', ' ').slice(0, 19)} UTC`;
  const number = (value, digits) => (value === null || value === undefined ? 'n/a'
    : Number(value).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));
  const percent = (value, digits = 2) => (value === null || value === undefined ? 'n/a' : `${number(value * 100, digits)} %`);
  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }
  const sign = (value) => (value > 0 ? 'positive' : value < 0 ? 'negative' : '');

  document.title = data.title;
  document.getElementById('title').textContent = data.title;
  document.getElementById('subtitle').textContent =
    `${data.data} · ${data.candles.length.toLocaleString('en-US')} candles from ${utc(data.first_ms)} to ${utc(data.last_ms)} · ${data.strategy} · ${data.account}`;

  const s = data.summary;
  const metrics = [
    ['Final equity', number(s.final_equity, 2)], ['Total return', percent(s.total_return)],
    ['Max drawdown', percent(s.max_drawdown)], ['Round trips', number(s.round_trips, 0)],
    ['Win rate', percent(s.win_rate)], ['Profit factor', number(s.profit_factor, 3)],
    ['Sharpe (daily, annualised)', number(s.sharpe, 3)], ['Fees', number(s.total_fees, 2)],
    ['Exposure', percent(s.exposure)], ['Starting cash', number(s.starting_cash, 2)],
    ['Ends in a position', s.ends_in_position ? 'yes' : 'no'], ['Orders skipped', number(s.skipped_orders, 0)],
  ];
  const list = document.getElementById('metrics');
  for (const [name, value] of metrics) {
    const item = el('div');
    item.append(el('dt', name), el('dd', value));
    list.append(item);
  }

  const baseOptions = {
    autoSize: true,
    layout: { attributionLogo: false, textColor: '#14171c', background: { color: '#ffffff' } },
    // Thin bars allowed: the whole run fits the width when zoomed out.
    timeScale: { timeVisible: true, secondsVisible: false, minBarSpacing: 0.001 },
    localization: { timeFormatter: (time) => utc(time * 1000) },
  };

  // Candles, EMAs on them, RSI in a pane below, trades as markers.
  const candleChart = createChart(document.getElementById('candles'), baseOptions);
  const candleSeries = candleChart.addSeries(CandlestickSeries, {
    upColor: colors.buy, downColor: colors.sell, wickUpColor: colors.buy, wickDownColor: colors.sell, borderVisible: false,
  });
  candleSeries.setData(data.candles.map((c) => ({ time: c[0], open: c[1], high: c[2], low: c[3], close: c[4] })));
  const line = (color, pane, index) => {
    const series = candleChart.addSeries(LineSeries, { color, lineWidth: 2, priceLineVisible: false, lastValueVisible: false }, pane);
    series.setData(data.candles.map((c) => (c[index] === null ? { time: c[0] } : { time: c[0], value: c[index] })));
    return series;
  };
  line(colors.fast, 0, 5);
  line(colors.slow, 0, 6);
  const rsi = line(colors.rsi, 1, 7);
  rsi.createPriceLine({ price: data.overbought, color: colors.sell, lineWidth: 1, lineStyle: 2, title: 'overbought' });
  const panes = candleChart.panes();
  if (panes[1]) panes[1].setHeight(130);
  const marks = [];
  for (const trade of data.trades) {
    marks.push({ time: trade.entry_ms / 1000, position: 'belowBar', color: colors.buy, shape: 'arrowUp', text: 'BUY' });
    marks.push({ time: trade.exit_ms / 1000, position: 'aboveBar', color: colors.sell, shape: 'arrowDown', text: 'SELL' });
  }
  createSeriesMarkers(candleSeries, marks);
  // The last few hundred candles first: the whole run is one zoom out away.
  const shown = Math.min(data.candles.length, 400);
  if (shown > 1) {
    candleChart.timeScale().setVisibleRange({ from: data.candles[data.candles.length - shown][0], to: data.candles[data.candles.length - 1][0] });
  }

  // Equity above, drawdown (a share of the peak, below zero) in a pane beneath.
  const equityChart = createChart(document.getElementById('equity'), baseOptions);
  const equity = equityChart.addSeries(LineSeries, { color: colors.equity, lineWidth: 2, priceLineVisible: false });
  equity.setData(data.equity.map(([time, value]) => ({ time, value })));
  const drawdown = equityChart.addSeries(AreaSeries, {
    lineColor: colors.drawdown, topColor: 'rgba(180, 35, 24, 0.05)', bottomColor: 'rgba(180, 35, 24, 0.4)',
    lineWidth: 1, priceFormat: { type: 'percent' }, priceLineVisible: false,
  }, 1);
  drawdown.setData(data.equity.map(([time, , dd]) => ({ time, value: -dd * 100 })));
  const equityPanes = equityChart.panes();
  if (equityPanes[1]) equityPanes[1].setHeight(120);
  // Once laid out at its size: the whole run, first candle to last.
  requestAnimationFrame(() => equityChart.timeScale().fitContent());

  // Monthly returns: a row per year, a cell per month, the year's return at the end.
  const months = document.getElementById('months');
  const head = el('tr');
  for (const name of ['Year', 'Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec', 'Year']) head.append(el('th', name));
  const thead = el('thead');
  thead.append(head);
  const tbody = el('tbody');
  for (const year of data.monthly) {
    const row = el('tr');
    row.append(el('td', String(year.year)));
    for (const value of year.months) row.append(el('td', value === null ? '' : percent(value, 1), value === null ? '' : sign(value)));
    row.append(el('td', percent(year.total, 1), sign(year.total)));
    tbody.append(row);
  }
  months.append(thead, tbody);

  // Every round trip, with UTC dates.
  const trades = document.getElementById('trades');
  const tradeHead = el('tr');
  for (const name of ['#', 'Entry (UTC)', 'Entry price', 'Exit (UTC)', 'Exit price', 'Quantity', 'PnL', 'Return']) tradeHead.append(el('th', name));
  const tradeThead = el('thead');
  tradeThead.append(tradeHead);
  const tradeBody = el('tbody');
  data.trades.forEach((trade, index) => {
    const row = el('tr');
    const cost = trade.entry_price * trade.qty;
    const cells = [String(index + 1), utc(trade.entry_ms), number(trade.entry_price, 2), utc(trade.exit_ms),
      number(trade.exit_price, 2), number(trade.qty, 6), number(trade.pnl, 2), percent(cost > 0 ? trade.pnl / cost : null)];
    cells.forEach((text, column) => row.append(el('td', text, column >= 6 ? sign(trade.pnl) : '')));
    tradeBody.append(row);
  });
  trades.append(tradeThead, tradeBody);
  document.body.dataset.drawn = 'yes';
}());
