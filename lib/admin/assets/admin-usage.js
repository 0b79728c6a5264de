// Usage on the key admin page: a 14-day sparkline in each row, a chart of one key's requests per
// day by outcome, and the busiest keys. Charts are SVG drawn here: no library, no inline style
// (the strict CSP allows none); colours come from admin.css classes.
import { $, api, el, fail } from './admin-shared.js';

const SVG = 'http://www.w3.org/2000/svg';
const OUTCOMES = ['ok', 'unauthorized', 'forbidden', 'usage_exceeded', 'rate_limited'];
const OUTCOME_LABELS = {
  ok: 'OK',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  usage_exceeded: 'Usage exceeded',
  rate_limited: 'Rate limited',
};

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

/** Fills a row's usage cell: the last 14 days' requests as bars, and a badge on guessing. */
export async function fillRowUsage(key, usageCell, statusCell) {
  let usage;
  try {
    usage = await api('GET', `/${encodeURIComponent(key.id)}/usage?days=14`);
  } catch {
    usageCell.textContent = '–'; // usage analytics off, or the store unavailable
    return;
  }
  const totals = usage.days.map((day) => day.total);
  const max = Math.max(1, ...totals);
  const bars = totals.map((total, i) => {
    const height = total === 0 ? 1 : Math.max(2, Math.round((total / max) * 20));
    return svg('rect', {
      x: i * 6,
      y: 22 - height,
      width: 5,
      height,
      class: total ? 'spark' : 'spark-none',
    });
  });
  usageCell.replaceChildren(
    svg(
      'svg',
      {
        role: 'img',
        viewBox: '0 0 84 22',
        width: 84,
        height: 22,
        'aria-label': `Requests of ${key.name} over the last 14 days: ${usage.total} in all, ${totals.at(-1)} today`,
      },
      ...bars,
    ),
  );
  if (usage.suspicious)
    statusCell.append(
      ' ',
      el('span', {
        className: 'badge suspicious',
        text: 'Guessing?',
        title: 'Many wrong secrets were sent for this key lately.',
      }),
    );
}

/** Opens the usage panel of one key: requests per day by outcome over 30 days, with totals. */
export async function openUsage(key) {
  let usage;
  try {
    usage = await api('GET', `/${encodeURIComponent(key.id)}/usage?days=30`);
  } catch (error) {
    fail(error);
    return;
  }
  $('usage-title').textContent = `Usage of ${key.name} (${key.prefix}), last 30 days`;
  $('usage-chart').replaceChildren(chart(key, usage));
  $('usage-totals').replaceChildren(
    ...OUTCOMES.map((outcome) =>
      el(
        'li',
        {},
        el('span', { className: `swatch o-${outcome}` }),
        `${OUTCOME_LABELS[outcome]}: ${usage.totals[outcome]}`,
      ),
    ),
    el('li', { className: 'usage-total' }, `Total: ${usage.total}`),
  );
  $('usage-panel').hidden = false;
  $('usage-title').focus();
}

function chart(key, usage) {
  const width = 600;
  const height = 180;
  const plot = { left: 36, bottom: 20, top: 8 };
  const max = Math.max(1, ...usage.days.map((day) => day.total));
  const step = (width - plot.left) / usage.days.length;
  const scale = (height - plot.bottom - plot.top) / max;
  const parts = [
    svg('line', {
      x1: plot.left,
      y1: height - plot.bottom,
      x2: width,
      y2: height - plot.bottom,
      class: 'axis',
    }),
    svg(
      'text',
      { x: plot.left - 4, y: plot.top + 8, 'text-anchor': 'end', class: 'tick' },
      String(max),
    ),
    svg(
      'text',
      { x: plot.left - 4, y: height - plot.bottom, 'text-anchor': 'end', class: 'tick' },
      '0',
    ),
  ];
  usage.days.forEach((day, i) => {
    let y = height - plot.bottom;
    for (const outcome of OUTCOMES) {
      const h = day.counts[outcome] * scale;
      if (h <= 0) continue;
      y -= h;
      parts.push(
        svg(
          'rect',
          {
            x: plot.left + i * step + 1,
            y,
            width: Math.max(1, step - 2),
            height: h,
            class: `o-${outcome}`,
          },
          svg('title', {}, `${day.date}: ${day.counts[outcome]} ${OUTCOME_LABELS[outcome]}`),
        ),
      );
    }
    // Every seventh day, and the last unless a label sits close before it.
    const last = i === usage.days.length - 1 && i % 7 >= 3;
    if (i % 7 === 0 || last)
      parts.push(
        svg('text', { x: plot.left + i * step, y: height - 4, class: 'tick' }, day.date.slice(5)),
      );
  });
  const summary = OUTCOMES.map((o) => `${usage.totals[o]} ${OUTCOME_LABELS[o].toLowerCase()}`).join(
    ', ',
  );
  return svg(
    'svg',
    {
      role: 'img',
      viewBox: `0 0 ${width} ${height}`,
      class: 'usage-chart',
      'aria-label': `Usage of ${key.name}: ${usage.total} requests in ${usage.days.length} days (${summary})`,
    },
    ...parts,
  );
}

/** Lists the busiest keys of the last 24 hours and 7 days. */
export async function loadBusiest() {
  for (const [hours, id] of [
    [24, 'busiest-day'],
    [168, 'busiest-week'],
  ]) {
    try {
      const { items } = await api('GET', `/busiest?hours=${hours}`);
      $(id).replaceChildren(
        ...(items.length === 0
          ? [el('li', { className: 'none', text: 'No requests.' })]
          : items.map((item) =>
              el('li', {}, el('code', { text: item.prefix }), ` ${item.name}: ${item.total}`),
            )),
      );
    } catch {
      $(id).replaceChildren(
        el('li', { className: 'none', text: 'Usage analytics is unavailable.' }),
      );
    }
  }
}

$('usage-close').addEventListener('click', () => {
  $('usage-panel').hidden = true;
});
