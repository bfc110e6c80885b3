'use strict';
// The status page: reads GET /v1/status (public, no token) and refreshes it.
(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';

  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Bars drawn as SVG elements (no inline style: the CSP forbids it).
  function drawChart(activity) {
    const chart = $('chart');
    const counts = activity.counts;
    const width = 720, height = 160, top = 10, bottom = 20, left = 36;
    const max = Math.max(1, ...counts);
    const barWidth = (width - left) / counts.length;
    const nodes = [
      svg('line', { class: 'axis', x1: left, y1: height - bottom, x2: width, y2: height - bottom }),
      svg('text', { x: 2, y: top + 8 }, String(max)),
      svg('text', { x: 2, y: height - bottom }, '0'),
    ];
    counts.forEach((count, i) => {
      const h = ((height - top - bottom) * count) / max;
      const bar = svg('rect', { class: 'bar', x: left + i * barWidth, y: height - bottom - h, width: Math.max(1, barWidth - 0.5), height: h });
      const minute = new Date(Date.parse(activity.from) + i * activity.bucket_seconds * 1000);
      bar.append(svg('title', {}, `${minute.toISOString().slice(11, 16)} UTC: ${count} appended`));
      nodes.push(bar);
    });
    const from = new Date(Date.parse(activity.from));
    for (let hour = 0; hour <= counts.length / 60; hour++) {
      const t = new Date(from.getTime() + hour * 3600000);
      nodes.push(svg('text', { x: Math.min(width - 40, left + hour * 60 * barWidth), y: height - 4 }, t.toISOString().slice(11, 16)));
    }
    chart.replaceChildren(...nodes);
    const total = counts.reduce((a, b) => a + b, 0);
    const busiest = Math.max(...counts);
    $('chart-summary').textContent =
      `${total.toLocaleString('en-US')} entries appended since ${from.toISOString().slice(0, 16).replace('T', ' ')} UTC; busiest minute: ${busiest.toLocaleString('en-US')}. Times in UTC.`;
  }

  async function refresh() {
    try {
      const response = await fetch('/v1/status', { cache: 'no-store' });
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      const status = await response.json();
      $('origin').textContent = status.origin;
      $('tree-size').textContent = status.tree_size.toLocaleString('en-US');
      $('tree-size').dataset.value = String(status.tree_size);
      // A ledger with temporal shards: the figures are the active shard's (GET /v1/shards lists every shard).
      const sharded = typeof status.shards === 'number' && status.shards > 1;
      $('shard-term').hidden = !sharded;
      $('shard').hidden = !sharded;
      if (sharded) {
        $('shard').textContent =
          `the active shard is shard ${status.shard} of ${status.shards}; ${status.entries_all_shards.toLocaleString('en-US')} entries in all shards (GET /v1/shards lists them)`;
      }
      $('checkpoint-size').textContent = status.checkpoint_size.toLocaleString('en-US');
      $('checkpoint-time').textContent = status.checkpoint_signed_at;
      $('checkpoint-time').setAttribute('datetime', status.checkpoint_signed_at);
      $('checkpoint-root').textContent = status.checkpoint.split('\n')[2] || '';
      $('verifier-key').textContent = status.verifier_key;
      $('checkpoint-note').textContent = status.checkpoint;
      drawChart(status.appends_per_minute);
      $('load-error').hidden = true;
    } catch (error) {
      $('load-error').textContent = `The status could not be read: ${error.message}. It will be tried again.`;
      $('load-error').hidden = false;
    }
  }

  refresh();
  setInterval(refresh, 10000);
})();
