// A candle chart with the strategy's fast and slow EMAs over the candles, its RSI in a pane
// below with the overbought line, and markers (trades, skipped signals) that show their facts
// under the pointer and are clickable. The bot page and the backtest page draw the same one.

import { el, seconds, utc } from './dom.js';

export const COLORS = {
  fast: '#0f5bd8', slow: '#b45309', rsi: '#6d28d9', buy: '#0b7a3e', sell: '#b42318', skip: '#8a5a00',
};

// How each kind of marker looks.
const MARK_STYLE = {
  BUY: { position: 'belowBar', color: COLORS.buy, shape: 'arrowUp', text: 'BUY' },
  SELL: { position: 'aboveBar', color: COLORS.sell, shape: 'arrowDown', text: 'SELL' },
  skip: { position: 'aboveBar', color: COLORS.skip, shape: 'circle', text: 'skip' },
};

export class CandleChart {
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
    this.facts = new Map();
    this.tooltip = el('div', { class: 'tooltip hidden', role: 'status' });
    container.append(this.tooltip);
    this.chart.subscribeCrosshairMove((param) => this.hover(param));
    const panes = this.chart.panes();
    if (panes[1]) panes[1].setHeight(130);
    this.marks = [];
    this.candleData = [];
    // Reachable from the page, for the browser test and the developer console.
    container.candleChart = this;
  }

  // Draws `candles` (each with open_time_ms, OHLC, ema_fast, ema_slow, rsi; null while not yet
  // defined) and `marks` ({id, timeMs, kind: 'BUY' | 'SELL' | 'skip', facts: () => Node}); the
  // marks off the candles are left out. Keeps the user's zoom after the first drawing.
  draw(candles, overbought, marks) {
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
      price: overbought, color: COLORS.sell, lineStyle: 2, lineWidth: 1, title: 'overbought',
    });
    const shown = new Set(candles.map((c) => c.open_time_ms));
    const drawn = marks.filter((mark) => shown.has(mark.timeMs));
    this.marks = drawn;
    this.candleData = candles;
    this.facts = new Map(drawn.map((mark) => [mark.id, mark.facts]));
    this.markers.setMarkers(drawn
      .map((mark) => ({ id: mark.id, time: seconds(mark.timeMs), ...MARK_STYLE[mark.kind] }))
      .sort((a, b) => a.time - b.time));
    this.container.dataset.candles = String(candles.length);
    this.container.dataset.markers = String(drawn.filter((mark) => mark.kind !== 'skip').length);
    this.container.dataset.skips = String(drawn.filter((mark) => mark.kind === 'skip').length);
    if (candles.length > 0) this.container.dataset.lastCandle = String(candles[candles.length - 1].open_time_ms);
  }

  // Calls `handler(markId)` when a marker is clicked.
  onMarkerClick(handler) {
    this.chart.subscribeClick((param) => {
      if (param.hoveredObjectId && this.facts.has(param.hoveredObjectId)) handler(String(param.hoveredObjectId));
    });
  }

  // Shows the facts of the marker under the pointer.
  hover(param) {
    const facts = param.hoveredObjectId && this.facts.get(param.hoveredObjectId);
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

  // Shows the candles from `fromMs` to `toMs`.
  showRange(fromMs, toMs) {
    this.chart.timeScale().setVisibleRange({ from: seconds(fromMs), to: seconds(toMs) });
  }
}

// `pairs` ([name, value]) as a definition list.
export function factList(pairs, className = 'facts') {
  return el('dl', { class: className }, pairs.map(([name, value]) => [el('dt', {}, name), el('dd', {}, value)]));
}
