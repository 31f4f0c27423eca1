/* Small charts drawn as inline SVG: grouped bars and lines over periods, with axes and tooltips.
   No library: each chart is a viewBox the card scales to its width. Text goes in with textContent. */

const NS = "http://www.w3.org/2000/svg";
const W = 640, H = 230;
const PAD = {top: 12, right: 14, bottom: 28, left: 46};

function s(tag, attrs, kids) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) if (value != null) el.setAttribute(name, value);
  for (const kid of kids || []) if (kid != null) el.append(kid);
  return el;
}

function text(x, y, value, attrs) {
  const el = s("text", {x, y, ...attrs});
  el.textContent = value;
  return el;
}

/* 0, a round step, ... covering max: 4-6 ticks. */
export function niceTicks(max, count = 5) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((v) => v >= raw) || raw;
  const ticks = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(+v.toFixed(10));
  return ticks;
}

function frame(el, {labels, yTicks, yFormat, xLabel}) {
  el.replaceChildren();
  const svg = s("svg", {viewBox: `0 0 ${W} ${H}`, role: "img", preserveAspectRatio: "xMidYMid meet"});
  const plotW = W - PAD.left - PAD.right, plotH = H - PAD.top - PAD.bottom;
  const yMax = yTicks[yTicks.length - 1];
  const y = (v) => PAD.top + plotH - (v / yMax) * plotH;
  const axis = s("g", {class: "axis"});
  for (const tick of yTicks) {
    axis.append(s("line", {class: tick === 0 ? "base" : "grid", x1: PAD.left, x2: W - PAD.right, y1: y(tick), y2: y(tick)}));
    axis.append(text(PAD.left - 8, y(tick) + 4, yFormat(tick), {"text-anchor": "end"}));
  }
  const band = plotW / Math.max(1, labels.length);
  const every = Math.max(1, Math.ceil(labels.length / Math.floor(plotW / 64)));
  labels.forEach((label, i) => {
    if (i % every === 0) axis.append(text(PAD.left + band * (i + 0.5), H - 8, xLabel(label), {"text-anchor": "middle"}));
  });
  svg.append(axis);
  el.append(svg);
  return {svg, y, band, plotH, x: (i) => PAD.left + band * (i + 0.5)};
}

/* Transparent columns that show a tooltip with every series' value of the period. */
function hoverColumns(el, g, {labels, series, band, tipTitle, format}) {
  const tip = document.createElement("div");
  tip.className = "tip";
  tip.hidden = true;
  el.append(tip);
  labels.forEach((label, i) => {
    const col = s("rect", {class: "hover-col", x: PAD.left + band * i, y: PAD.top, width: band, height: H - PAD.top - PAD.bottom});
    col.addEventListener("mouseenter", () => {
      tip.replaceChildren();
      const b = document.createElement("b");
      b.textContent = tipTitle(label);
      tip.append(b);
      for (const one of series) {
        const line = document.createElement("div");
        line.textContent = `${one.name}: ${format(one.values[i])}`;
        tip.append(line);
      }
      const box = el.getBoundingClientRect(), r = col.getBoundingClientRect();
      tip.style.left = `${r.left - box.left + r.width / 2}px`;
      tip.style.top = `${r.top - box.top + 20}px`;
      tip.hidden = false;
    });
    col.addEventListener("mouseleave", () => { tip.hidden = true; });
    g.append(col);
  });
}

function legend(el, series, extra) {
  const box = document.createElement("div");
  box.className = "legend";
  for (const one of series) {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = one.color;
    item.append(swatch, one.name);
    box.append(item);
  }
  if (extra) box.append(extra);
  el.prepend(box);
}

function empty(el, message) {
  el.replaceChildren();
  const note = document.createElement("div");
  note.className = "empty";
  note.textContent = message;
  el.append(note);
}

/* Grouped bars: series [{name, values, color}], values per label (null counts as 0). */
export function barChart(el, {labels, series, format, axisFormat, tipTitle, xLabel, emptyText}) {
  const max = Math.max(0, ...series.flatMap((one) => one.values.map((v) => v || 0)));
  if (!labels.length || max === 0) return empty(el, emptyText);
  const yTicks = niceTicks(max);
  const f = frame(el, {labels, yTicks, yFormat: axisFormat || format, xLabel});
  const g = s("g");
  const inner = f.band * 0.72, width = Math.min(28, inner / series.length);
  labels.forEach((_, i) => {
    series.forEach((one, k) => {
      const v = one.values[i] || 0;
      const top = f.y(v), x0 = f.x(i) - (width * series.length) / 2 + k * width;
      if (v > 0) g.append(s("rect", {x: x0 + 0.5, y: top, width: Math.max(1, width - 1), height: f.y(0) - top, rx: 2.5, fill: one.color}));
    });
  });
  f.svg.append(g);
  hoverColumns(el, f.svg, {labels, series, band: f.band, tipTitle, format});
  legend(el, series);
}

/* Lines (null values leave gaps); optional dashed target line; yMax fixes the scale (ratios: 1). */
export function lineChart(el, {labels, series, format, axisFormat, tipTitle, xLabel, emptyText, yMax, target, area}) {
  const values = series.flatMap((one) => one.values.filter((v) => v != null));
  if (!labels.length || !values.length) return empty(el, emptyText);
  const yTicks = yMax != null ? niceTicks(yMax, 4) : niceTicks(Math.max(...values) * 1.1 || 1);
  const f = frame(el, {labels, yTicks, yFormat: axisFormat || format, xLabel});
  const g = s("g");
  if (target) {
    g.append(s("line", {class: "target", x1: PAD.left, x2: W - PAD.right, y1: f.y(target.value), y2: f.y(target.value)}));
    g.append(text(W - PAD.right - 2, f.y(target.value) - 5, target.label, {class: "target-label", "text-anchor": "end"}));
  }
  for (const one of series) {
    let path = "", run = [];
    const runs = [];
    one.values.forEach((v, i) => {
      if (v == null) { if (run.length) runs.push(run); run = []; return; }
      run.push([f.x(i), f.y(v)]);
    });
    if (run.length) runs.push(run);
    for (const points of runs) {
      path += points.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
      if (area && points.length > 1) {
        const base = f.y(0);
        g.append(s("path", {class: "area", fill: one.color,
          d: `M${points[0][0]},${base}` + points.map(([x, y]) => `L${x.toFixed(1)},${y.toFixed(1)}`).join("") + `L${points[points.length - 1][0]},${base}Z`}));
      }
    }
    g.append(s("path", {class: "line", stroke: one.color, d: path, "stroke-dasharray": one.dashed ? "5 4" : null}));
    one.values.forEach((v, i) => {
      if (v != null) g.append(s("circle", {class: "dot", cx: f.x(i), cy: f.y(v), r: labels.length > 40 ? 0 : 3.2, fill: one.color}));
    });
  }
  f.svg.append(g);
  hoverColumns(el, f.svg, {labels, series, band: f.band, tipTitle, format});
  legend(el, series);
}
