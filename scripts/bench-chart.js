#!/usr/bin/env node
'use strict';
// The spawn-latency chart: median spawn-to-exit time of /bin/true against the agent's resident
// memory, one line per approach, log scales on both axes. Plain SVG text, no chart library.
// scripts/bench.js writes it after a run; to redraw it from saved results:
//
//   node scripts/bench-chart.js [results.json] [out.svg]
//   (defaults: bench/results.json -> bench/spawn-latency.svg)

const fs = require('node:fs');
const path = require('node:path');
const lib = require('./bench-lib');

// Drawing order: the floor first, procguard last (on top).
const SERIES = [
  { key: 'posixSpawnC', label: 'C posix_spawn loop (floor)', short: 'C loop', color: '#8c8c8c', width: 2, dash: '2 4', marker: 'dot' },
  { key: 'choom', label: 'choom wrapper (fork + 3 execs)', short: 'choom', color: '#f28e2b', width: 2.5, dash: '8 5', marker: 'triangle' },
  { key: 'child_process', label: 'child_process.spawn', short: 'child_process', color: '#d62728', width: 2.5, dash: null, marker: 'square' },
  { key: 'procguard', label: 'procguard.spawn', short: 'procguard', color: '#1a9850', width: 3, dash: null, marker: 'circle' },
];
const LEGEND_ORDER = ['procguard', 'child_process', 'choom', 'posixSpawnC'];

const W = 960;
const H = 590;
const PLOT = { left: 88, right: W - 250, top: 78, bottom: H - 140 };
const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";

const esc = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (v) => Number(v.toFixed(1));

/** Median µs of one series at one size entry of results.sizes, or null. */
function medianOf(sizeEntry, key) {
  const summary = key === 'posixSpawnC' ? sizeEntry.posixSpawnC?.us : sizeEntry.spawn?.[key]?.us;
  return summary && Number.isFinite(summary.median) && summary.median > 0 ? summary.median : null;
}

/** '100 µs', '1 ms', '10 ms', '1 s' for a power of ten of µs. */
function decadeLabel(us) {
  if (us < 1000) return `${us} µs`;
  if (us < 1e6) return `${us / 1000} ms`;
  return `${us / 1e6} s`;
}

function marker(shape, x, y, color) {
  const a = `fill="${color}" stroke="#fff" stroke-width="1"`;
  if (shape === 'circle') return `<circle cx="${num(x)}" cy="${num(y)}" r="4.5" ${a}/>`;
  if (shape === 'square') return `<rect x="${num(x - 4)}" y="${num(y - 4)}" width="8" height="8" ${a}/>`;
  if (shape === 'triangle') return `<path d="M${num(x)},${num(y - 5.5)} L${num(x + 5)},${num(y + 3.5)} L${num(x - 5)},${num(y + 3.5)} Z" ${a}/>`;
  return `<circle cx="${num(x)}" cy="${num(y)}" r="3" fill="${color}"/>`;
}

/** Spreads labels (sorted by y) so no two are closer than `gap` pixels, keeping them in [min, max]. */
function spreadLabels(labels, gap, min, max) {
  labels.sort((a, b) => a.y - b.y);
  for (let i = 1; i < labels.length; i++) labels[i].y = Math.max(labels[i].y, labels[i - 1].y + gap);
  const overflow = labels.length ? labels[labels.length - 1].y - max : 0;
  if (overflow > 0) for (const l of labels) l.y -= overflow;
  for (let i = labels.length - 2; i >= 0; i--) labels[i].y = Math.min(labels[i].y, labels[i + 1].y - gap);
  for (const l of labels) l.y = Math.max(l.y, min);
  return labels;
}

/** Wraps text into lines of at most `width` characters, at spaces. */
function wrap(text, width) {
  const lines = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

function renderSpawnLatencySvg(results) {
  const sizes = results.sizes.map((s) => ({ bytes: s.targetBytes, entry: s }));
  const series = SERIES.map((s) => ({
    ...s,
    points: sizes.map(({ bytes, entry }) => ({ bytes, us: medianOf(entry, s.key) })).filter((p) => p.us != null),
  })).filter((s) => s.points.length > 0);
  const allUs = series.flatMap((s) => s.points.map((p) => p.us));
  if (allUs.length === 0) throw new Error('no spawn medians in the results');

  // Scales: log10 of µs (from a whole decade below the fastest to a little above the slowest) and
  // log2 of bytes (a little room each side).
  const yMinExp = Math.floor(Math.log10(Math.min(...allUs)));
  const yMaxExp = Math.max(yMinExp + 1, Math.log10(Math.max(...allUs)) + 0.25);
  const xMin = Math.log2(Math.min(...sizes.map((s) => s.bytes))) - 0.35;
  const xMax = Math.log2(Math.max(...sizes.map((s) => s.bytes))) + 0.35;
  const X = (bytes) => PLOT.left + ((Math.log2(bytes) - xMin) / (xMax - xMin)) * (PLOT.right - PLOT.left);
  const Y = (us) => PLOT.bottom - ((Math.log10(us) - yMinExp) / (yMaxExp - yMinExp)) * (PLOT.bottom - PLOT.top);

  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}" font-size="13">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);

  // Title and subtitle.
  out.push(`<text x="${PLOT.left}" y="30" font-size="19" font-weight="bold" fill="#222">Spawn-to-exit latency of /bin/true vs the agent's memory</text>`);
  out.push(`<text x="${PLOT.left}" y="53" font-size="13" fill="#555">Median per spawn, one child at a time (lower is better). Both axes log scale.</text>`);

  // Grid: decades (strong), 2x and 5x (light); one vertical line per measured size.
  for (let e = yMinExp; e <= yMaxExp; e++) {
    const us = 10 ** e;
    const y = Y(us);
    out.push(`<line x1="${PLOT.left}" y1="${num(y)}" x2="${PLOT.right}" y2="${num(y)}" stroke="#d0d0d0" stroke-width="1"/>`);
    out.push(`<text x="${PLOT.left - 10}" y="${num(y + 4.5)}" text-anchor="end" fill="#333">${esc(decadeLabel(us))}</text>`);
    for (const m of [2, 5]) {
      if (Math.log10(m * us) < yMaxExp) out.push(`<line x1="${PLOT.left}" y1="${num(Y(m * us))}" x2="${PLOT.right}" y2="${num(Y(m * us))}" stroke="#eeeeee" stroke-width="1"/>`);
    }
  }
  for (const { bytes } of sizes) {
    const x = X(bytes);
    out.push(`<line x1="${num(x)}" y1="${PLOT.top}" x2="${num(x)}" y2="${PLOT.bottom}" stroke="#eeeeee" stroke-width="1"/>`);
    out.push(`<line x1="${num(x)}" y1="${PLOT.bottom}" x2="${num(x)}" y2="${PLOT.bottom + 5}" stroke="#555"/>`);
    out.push(`<text x="${num(x)}" y="${PLOT.bottom + 21}" text-anchor="middle" fill="#333">${esc(lib.formatSize(bytes))}</text>`);
  }
  out.push(`<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}" fill="none" stroke="#555" stroke-width="1"/>`);

  // Axis titles.
  out.push(`<text x="${num((PLOT.left + PLOT.right) / 2)}" y="${PLOT.bottom + 45}" text-anchor="middle" fill="#222">agent's resident memory (VmRSS)</text>`);
  out.push(`<text transform="translate(22 ${num((PLOT.top + PLOT.bottom) / 2)}) rotate(-90)" text-anchor="middle" fill="#222">spawn-to-exit time (median)</text>`);

  // Lines and markers.
  for (const s of series) {
    const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${num(X(p.bytes))},${num(Y(p.us))}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.width}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} stroke-linejoin="round" stroke-linecap="round"/>`);
    for (const p of s.points) out.push(marker(s.marker, X(p.bytes), Y(p.us), s.color));
  }

  // End labels at the largest size: the value, and for the alternatives how much slower than procguard.
  const lastBytes = Math.max(...sizes.map((s) => s.bytes));
  const lastEntry = sizes.find((s) => s.bytes === lastBytes).entry;
  const pgLast = medianOf(lastEntry, 'procguard');
  const endLabels = series
    .map((s) => {
      const us = medianOf(lastEntry, s.key);
      if (us == null) return null;
      const vs = pgLast && ['child_process', 'choom'].includes(s.key) ? ` (${Math.round(us / pgLast)}x)` : '';
      return { y: Y(us), text: `${s.short} ${lib.formatDuration(us)}${vs}`, color: s.color };
    })
    .filter(Boolean);
  out.push(`<text x="${PLOT.right + 8}" y="${PLOT.top - 8}" font-size="11.5" fill="#555">at ${esc(lib.formatSize(lastBytes))}:</text>`);
  for (const l of spreadLabels(endLabels, 17, PLOT.top + 6, PLOT.bottom - 2)) {
    out.push(`<text x="${PLOT.right + 8}" y="${num(l.y + 4.5)}" fill="${l.color}" font-weight="bold">${esc(l.text)}</text>`);
  }

  // Legend, top left inside the plot (the fork-based lines start low there).
  const legend = LEGEND_ORDER.map((k) => series.find((s) => s.key === k)).filter(Boolean);
  const lx = PLOT.left + 14;
  const ly = PLOT.top + 14;
  out.push(`<rect x="${lx}" y="${ly}" width="262" height="${legend.length * 21 + 12}" fill="#ffffff" fill-opacity="0.92" stroke="#cccccc"/>`);
  legend.forEach((s, i) => {
    const y = ly + 18 + i * 21;
    out.push(`<line x1="${lx + 10}" y1="${y}" x2="${lx + 44}" y2="${y}" stroke="${s.color}" stroke-width="${s.width}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    out.push(marker(s.marker, lx + 27, y, s.color));
    out.push(`<text x="${lx + 54}" y="${y + 4.5}" fill="#222">${esc(s.label)}</text>`);
  });

  // Caption: the machine and the method.
  const m = results.machine ?? {};
  const pg = results.sizes[0]?.procguard ?? {};
  const date = results.startedAt ? results.startedAt.slice(0, 10) : '';
  const caption = [
    `Machine: ${m.cpuModel ?? '?'}, ${m.cores ?? '?'} cores, ${Math.round((m.totalMemoryBytes ?? 0) / 2 ** 30)} GB RAM, ${m.kernel ?? '?'}, Node ${m.node ?? '?'}, glibc ${m.glibc ?? '?'}${date ? `; ${date}` : ''}.`,
    `procguard ${pg.version ?? ''} with CODER_PROC_PRIO_MGMT=1 (children get nice +5, oom_score_adj 998). choom wrapper: child_process.spawn('choom', ['-n', '998', '--', 'nice', '-n', '5', cmd]), the same priorities without procguard.`,
    `The agent holds written Buffers up to each size. Made by npm run bench (scripts/bench.js); numbers in bench/results.json.`,
  ];
  let cy = PLOT.bottom + 72;
  for (const para of caption) {
    for (const line of wrap(para, 128)) {
      out.push(`<text x="${PLOT.left - 60}" y="${cy}" font-size="11.5" fill="#555">${esc(line)}</text>`);
      cy += 15;
    }
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function main() {
  const input = process.argv[2] ?? path.join(lib.REPO_ROOT, 'bench', 'results.json');
  const output = process.argv[3] ?? path.join(lib.REPO_ROOT, 'bench', 'spawn-latency.svg');
  const results = JSON.parse(fs.readFileSync(input, 'utf8'));
  fs.mkdirSync(path.dirname(output), { recursive: true });
  fs.writeFileSync(output, renderSpawnLatencySvg(results));
  console.log(`wrote ${path.relative(process.cwd(), output)}`);
}

if (require.main === module) main();

module.exports = { renderSpawnLatencySvg };
