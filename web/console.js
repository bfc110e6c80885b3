'use strict';
// The investigator console. It has no powers of its own: every action is a
// call to the investigator API with the typed token, so the server logs each
// one as access.granted. The token lives only in the closure below — never
// in storage, cookies, the address or the DOM once accepted.
(function () {
  const $ = (id) => document.getElementById(id);
  let token = null;
  let results = [];

  function say(text, isError) {
    $('message').textContent = text;
    $('message').className = isError ? 'error' : '';
  }

  async function api(method, path, body) {
    if (token === null) throw new Error('enter your investigate token first');
    const headers = { Authorization: 'Bearer ' + token };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit',
    });
    if (!response.ok) {
      let message = `the server answered ${response.status}`;
      try { message += ': ' + (await response.json()).error; } catch (e) { /* not JSON: the status says enough */ }
      throw new Error(message);
    }
    return response;
  }

  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('token').value.trim();
    $('token').value = '';
    if (value === '') { $('token-state').textContent = 'No token yet.'; return; }
    token = value;
    $('token-state').textContent = 'Token held in this tab\'s memory.';
    $('forget-token').disabled = false;
    $('search-account').focus();
  });
  $('forget-token').addEventListener('click', () => {
    token = null;
    $('token-state').textContent = 'Token forgotten.';
    $('forget-token').disabled = true;
  });

  // datetime-local has no zone: the form says UTC, so the value is read as UTC.
  function utc(value) { return value === '' ? null : new Date(value + (value.length === 16 ? ':00' : '') + 'Z').toISOString().replace('.000Z', 'Z'); }

  function cell(row, text, className) {
    const td = document.createElement('td');
    td.textContent = text === undefined || text === null ? '—' : String(text);
    if (className) td.className = className;
    row.append(td);
    return td;
  }
  const field = (body, ...path) => path.reduce((v, k) => (v && typeof v === 'object' ? v[k] : undefined), body);

  function addRows(events) {
    const tbody = $('results').tBodies[0];
    for (const event of events) {
      results.push(event);
      const row = document.createElement('tr');
      row.dataset.index = String(event.index);
      // A ledger with temporal shards: the index is that of the event's shard.
      const place = event.shard === undefined ? String(event.index) : `${event.shard}:${event.index}`;
      const select = document.createElement('td');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = true;
      box.className = 'pick';
      box.value = event.event_id;
      box.setAttribute('aria-label', `Select event ${place} (${event.event_id}) for the bundle`);
      select.append(box);
      row.append(select);
      cell(row, place);
      cell(row, event.kind, 'kind');
      cell(row, field(event.body, 'occurred_at'));
      cell(row, field(event.body, 'decision', 'outcome'));
      cell(row, field(event.body, 'subscription_tier') ?? field(event.body, 'tier'), 'hide-narrow');
      const open = document.createElement('button');
      open.type = 'button';
      open.className = 'secondary';
      open.textContent = 'Open';
      open.setAttribute('aria-label', `Open event ${place}`);
      open.addEventListener('click', () => openEvent(event.index, event.shard));
      const td = document.createElement('td');
      td.append(open);
      row.append(td);
      tbody.append(row);
    }
  }

  async function search(after, afterShard) {
    const params = new URLSearchParams();
    const account = $('search-account').value.trim(), hash = $('search-content-hash').value.trim(), kind = $('search-kind').value;
    const from = utc($('search-from').value), to = utc($('search-to').value);
    if (account) params.set('account', account);
    if (hash) params.set('content_hash', hash);
    if (kind) params.set('kind', kind);
    if (from) params.set('from', from);
    if (to) params.set('to', to);
    if ([...params.keys()].length === 0) { say('Give at least one of account, image hash, kind or time.', true); return; }
    if (after !== undefined) params.set('after', String(after));
    if (after !== undefined && afterShard !== undefined) params.set('after_shard', String(afterShard));
    say('Searching…');
    try {
      const answer = await (await api('GET', '/v1/events?' + params.toString())).json();
      if (after === undefined) { results = []; $('results').tBodies[0].replaceChildren(); }
      addRows(answer.events);
      $('results-section').hidden = false;
      $('more').hidden = answer.next_after === undefined;
      $('more').dataset.after = answer.next_after === undefined ? '' : String(answer.next_after);
      $('more').dataset.afterShard = answer.next_after_shard === undefined ? '' : String(answer.next_after_shard);
      say(`${results.length} event(s) found.`);
    } catch (error) {
      say('Search failed: ' + error.message, true);
    }
  }

  async function openEvent(index, shard) {
    try {
      const prefix = shard === undefined ? '' : `/v1/shards/${encodeURIComponent(shard)}`;
      const event = await (await api('GET', prefix + '/v1/events/' + encodeURIComponent(index))).json();
      const facts = $('event-facts');
      facts.replaceChildren();
      const fact = (name, value) => {
        const dt = document.createElement('dt'), dd = document.createElement('dd');
        dt.textContent = name; dd.textContent = value; dd.className = 'mono';
        facts.append(dt, dd);
      };
      fact('Index', event.index);
      if (shard !== undefined) fact('Shard', shard);
      fact('Event ID', event.event_id);
      fact('Kind', event.kind);
      fact('Leaf hash', event.leaf_hash);
      fact('Entry (base64)', event.entry);
      // The entry's fixed fields (Schemas/entry.md), so nobody has to decode base64 by hand.
      const entry = Uint8Array.from(atob(event.entry), (c) => c.charCodeAt(0));
      if (entry.length > 82) {
        const u64 = (at) => entry.slice(at, at + 8).reduce((v, b) => (v << 8n) | BigInt(b), 0n);
        const b64 = (from, to) => btoa(String.fromCharCode(...entry.slice(from, to)));
        const sequenced = u64(9);
        fact('Sequenced at', sequenced <= 8640000000000000n ? new Date(Number(sequenced)).toISOString() : `${sequenced} ms`);
        fact('Previous leaf (prev)', b64(17, 49));
        fact('Commitment', b64(49, 81));
      }
      fact('Salt', event.salt ?? '(erased)');
      if (event.erased) fact('Erased', `${event.erased.erased_at} under ${event.erased.legal_reference}`);
      $('event-heading').textContent = `Event ${event.index} — ${event.kind}`;
      $('event-body').textContent = event.body === null ? '(erased by legal order)' : JSON.stringify(event.body, null, 2);
      $('event-proof').textContent = event.inclusion_proof
        ? JSON.stringify(event.inclusion_proof, null, 2) + '\n\n' + event.checkpoint
        : '(not yet covered by a signed checkpoint)';
      $('event-section').hidden = false;
      $('event-heading').focus();
    } catch (error) {
      say('Could not open the event: ' + error.message, true);
    }
  }

  async function downloadBundle() {
    const ids = [...document.querySelectorAll('#results input.pick:checked')].map((box) => box.value);
    if (ids.length === 0) { say('Select at least one event.', true); return; }
    say(`Preparing the bundle of ${ids.length} event(s)…`);
    try {
      const blob = await (await api('POST', '/v1/bundles', { event_ids: ids })).blob();
      const link = document.createElement('a');
      link.href = URL.createObjectURL(blob);
      link.download = `greffe-bundle-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60000);
      say(`Bundle of ${ids.length} event(s) downloaded. Check it with the verifier page or greffe verify.`);
    } catch (error) {
      say('The bundle could not be made: ' + error.message, true);
    }
  }

  // The tier report as a chart: per tier, the allowed requests of each period, and a mark where
  // the features a tier unlocks changed. Pure: the report in, series and marks out.
  function tierChart(report) {
    const periods = [...new Set(report.figures.map((f) => f.period).concat(report.tier_features.map((f) => f.period)))].sort();
    const series = {};
    for (const f of report.figures) {
      // Every tier that made requests has a line, at zero where none was allowed.
      if (f.tier === null || !/\.requested$/.test(f.kind)) continue;
      series[f.tier] = series[f.tier] || Object.fromEntries(periods.map((p) => [p, 0]));
      if (f.outcome === 'allowed') series[f.tier][f.period] += f.count;
    }
    const marks = [];
    const last = {};
    for (const f of [...report.tier_features].sort((a, b) => (a.period < b.period ? -1 : 1))) {
      const features = f.features.join(', ');
      if (f.tier in last && last[f.tier] !== features) marks.push({ period: f.period, tier: f.tier, features });
      last[f.tier] = features;
    }
    return { periods, series, marks };
  }
  window.greffeTierChart = tierChart;

  const SVG = 'http://www.w3.org/2000/svg';
  function svg(name, attributes, text) {
    const element = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
    if (text !== undefined) element.textContent = text;
    return element;
  }

  async function showTierReport() {
    say('Asking for the tier report…');
    try {
      const report = await (await api('GET', '/v1/reports/tiers?period=week')).json();
      const { periods, series, marks } = tierChart(report);
      const width = 640, height = 220, left = 40, bottom = 30, top = 10;
      const max = Math.max(1, ...Object.values(series).flatMap((s) => Object.values(s)));
      const x = (i) => left + (periods.length <= 1 ? 0 : (i * (width - left - 10)) / (periods.length - 1));
      const y = (v) => height - bottom - (v * (height - bottom - top)) / max;
      const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': 'tier-summary' });
      chart.append(svg('line', { class: 'axis', x1: left, y1: height - bottom, x2: width - 10, y2: height - bottom }));
      chart.append(svg('text', { x: 2, y: top + 10 }, String(max)));
      periods.forEach((p, i) => { if (i === 0 || i === periods.length - 1) chart.append(svg('text', { x: x(i) - 20, y: height - 8 }, p)); });
      // Told apart by dash pattern, not colour alone; attributes, as the policy allows no inline style.
      const dashes = ['none', '6 3', '2 2', '8 2 2 2'];
      Object.keys(series).sort().forEach((tier, n) => {
        const points = periods.map((p, i) => `${x(i)},${y(series[tier][p])}`).join(' ');
        const line = svg('polyline', { points, fill: 'none', stroke: '#1a1a1a', 'stroke-width': 2, 'stroke-dasharray': dashes[n % dashes.length], 'data-tier': tier });
        line.append(svg('title', {}, `${tier}: ${periods.map((p) => series[tier][p]).join(', ')}`));
        chart.append(line);
        const lastIndex = periods.length - 1;
        chart.append(svg('text', { x: Math.max(left, x(lastIndex) - 40), y: y(series[tier][periods[lastIndex]]) - 4 }, tier));
      });
      for (const mark of marks) {
        const i = periods.indexOf(mark.period);
        chart.append(svg('line', { class: 'paywall', x1: x(i), y1: top, x2: x(i), y2: height - bottom, stroke: '#a00000', 'stroke-dasharray': '4 4', 'data-tier': mark.tier }));
        chart.append(svg('text', { x: x(i) + 3, y: top + 10 }, `${mark.tier}: ${mark.features || 'no features'}`));
      }
      $('tier-chart').replaceChildren(chart);
      const totals = Object.keys(series).sort().map((tier) => `${tier} ${Object.values(series[tier]).reduce((a, b) => a + b, 0)}`);
      $('tier-summary').textContent = `Allowed requests from ${periods[0] || '—'} to ${periods[periods.length - 1] || '—'}: ${totals.join(', ') || 'none'}.`
        + (marks.length ? ' Features changed: ' + marks.map((m) => `${m.tier} from ${m.period} (${m.features || 'none'})`).join('; ') + '.' : '')
        + ` The events counted are the bundle of ${JSON.stringify(report.bundle_query)}.`;
      say(`Tier report: ${report.event_count} event(s) counted.`);
    } catch (error) {
      say('The tier report could not be made: ' + error.message, true);
    }
  }
  $('tier-report').addEventListener('click', showTierReport);

  $('search-form').addEventListener('submit', (event) => { event.preventDefault(); search(); });
  $('more').addEventListener('click', () =>
    search(Number($('more').dataset.after), $('more').dataset.afterShard === '' ? undefined : Number($('more').dataset.afterShard)));
  $('download-bundle').addEventListener('click', downloadBundle);
})();
