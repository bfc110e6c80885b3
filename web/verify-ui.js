// The verifier page: reads the chosen file locally (nothing is sent anywhere:
// the page's Content-Security-Policy forbids every connection) and shows the
// report of GreffeVerifier.check.
//
// The check runs in a Web Worker made from this very script (a Blob URL of
// the page's one inline script, allowed by the page's `worker-src blob:`), so
// the page never freezes on a large bundle and still works offline from one
// file. The file is read as a stream: a v3 bundle of any size is checked
// without holding it whole. Where workers are not allowed (a policy without
// `worker-src blob:`) the same code runs in the page, yielding between chunks.
(function () {
  // ---- in the worker: check the file, post progress and the outcome --------
  if (typeof document === 'undefined') {
    self.onmessage = async (message) => {
      const { file, key, name } = message.data;
      try {
        const outcome = await GreffeVerifier.check(file, key, name, (progress) => self.postMessage({ progress }));
        self.postMessage({ outcome });
      } catch (error) {
        self.postMessage({ error: error && error.message ? error.message : String(error) });
      }
    };
    return;
  }

  // ---- in the page ---------------------------------------------------------
  const SCRIPT = document.currentScript ? document.currentScript.textContent : null;
  const $ = (id) => document.getElementById(id);
  const keyField = $('vkey'), fileField = $('bundle'), result = $('result');
  let runs = 0, current = null;

  const embedded = document.querySelector('meta[name="greffe-verifier-key"]');
  if (embedded && embedded.content.trim() !== '') {
    keyField.value = embedded.content.trim();
    $('vkey-source').textContent =
      'This key was written into the page by whoever made it. Compare it with the key the ledger publishes, or paste the key you were given.';
  }
  // Only try a worker the page's own policy allows (no violation reported otherwise).
  const policy = document.querySelector('meta[http-equiv="Content-Security-Policy"]');
  const workersAllowed = SCRIPT !== null && typeof Worker === 'function' && policy !== null && /(^|;)\s*worker-src[^;]*\bblob:/.test(policy.content);

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }
  const grouped = (n) => Number(n).toLocaleString('en-US');

  // Every outcome ends here: the result section always says something.
  function show(status, heading, details, reportText) {
    runs += 1;
    $('progress').hidden = true;
    result.hidden = false;
    result.dataset.status = status;
    result.dataset.run = String(runs);
    result.className = 'result ' + (status === 'verified' ? 'ok' : 'bad');
    $('verdict').textContent = heading;
    const list = $('details');
    list.replaceChildren(...details);
    $('report-text').textContent = reportText || '';
    $('report-block').hidden = !reportText;
    $('verdict').focus();
  }

  function showProgress(started, p) {
    const seconds = (performance.now() - started) / 1000;
    const bar = $('progress-bar');
    bar.max = p.totalBytes || 1;
    bar.value = p.bytesRead;
    const rate = seconds > 0.2 ? `, ${grouped(Math.round(p.events / seconds))} events/s` : '';
    const mb = (n) => (n / 1e6).toFixed(1);
    $('progress-text').textContent = `${grouped(p.events)} events checked (${mb(p.bytesRead)} of ${mb(p.totalBytes)} MB read${rate})`;
    $('progress').hidden = false;
  }

  // The check in a worker; rejects with {workerFailed} when no worker could run it.
  function inWorker(file, key, onProgress) {
    return new Promise((resolve, reject) => {
      const url = URL.createObjectURL(new Blob([SCRIPT], { type: 'text/javascript' }));
      const worker = new Worker(url);
      let heard = false;
      const end = () => { worker.terminate(); URL.revokeObjectURL(url); };
      current = end;
      worker.onmessage = (message) => {
        heard = true;
        const data = message.data;
        if (data.progress) { onProgress(data.progress); return; }
        end();
        if (data.error !== undefined) reject(new Error(data.error));
        else resolve(data.outcome);
      };
      worker.onerror = (event) => {
        event.preventDefault();
        end();
        reject(heard ? new Error(event.message || 'the worker stopped') : { workerFailed: event.message || 'no worker' });
      };
      worker.postMessage({ file, key, name: file.name });
    });
  }

  async function run() {
    const file = fileField.files && fileField.files[0];
    if (!file) {
      show('none', 'Choose a bundle file to check.', []);
      return;
    }
    if (current) { current(); current = null; }
    $('verdict').textContent = 'Checking…';
    result.dataset.status = 'checking';
    const started = performance.now();
    const onProgress = (p) => showProgress(started, p);
    let outcome;
    try {
      if (workersAllowed) {
        try {
          outcome = await inWorker(file, keyField.value, onProgress);
          result.dataset.engine = 'worker';
        } catch (error) {
          if (!error || error.workerFailed === undefined) throw error;
          outcome = undefined;
        }
      }
      if (outcome === undefined) {
        outcome = await GreffeVerifier.check(file, keyField.value, file.name, onProgress);
        result.dataset.engine = 'page';
      }
    } catch (error) {
      // A bug or an exhausted browser, never a reason to show a blank page.
      show('unreadable', 'The file could not be checked', [element('p', 'The check stopped: ' + (error && error.message ? error.message : String(error)))]);
      return;
    }
    result.dataset.seconds = ((performance.now() - started) / 1000).toFixed(2);
    if (outcome.status === 'key') {
      show('key', 'The verifier key is not usable', [element('p', outcome.message)]);
      return;
    }
    if (outcome.status === 'unreadable') {
      show('unreadable', 'NOT VERIFIED: this file is not a readable evidence bundle', [element('p', outcome.message)]);
      return;
    }
    if (outcome.certificate || outcome.certificateFailure) {
      if (outcome.certificateFailure) {
        show('failed', 'NOT VERIFIED — this disclosure certificate does not hold', [element('p', outcome.certificateFailure)], outcome.text);
        return;
      }
      const c = outcome.certificate;
      const details = [
        element('p', `${c.shard === null || c.shard === undefined ? `The ledger ${c.origin}` : `Shard ${c.shard} (${c.origin}) of the ledger ${c.ledger}`} signed its state of ${c.treeSize.toLocaleString('en-US')} entries; the signature holds, and entry ${c.index} is part of it.`),
        element('p', `That entry records an event of kind ${c.kind} at ${new Date(Number(c.recordedAt)).toISOString()} whose body held:`),
      ];
      const list = element('ul', undefined, 'fields');
      for (const f of c.fields) list.append(element('li', `${f.path} = ${f.value}`));
      details.push(list, element('p', 'Nothing else of the event is shown or proved by this certificate.'));
      show('verified', 'VERIFIED — the signature, the entry\'s inclusion and every disclosed field hold.', details, outcome.text);
      return;
    }
    const report = outcome.report;
    const details = [];
    if (report.failures.length > 0) {
      details.push(element('h3', 'What failed'));
      const failures = element('ul', undefined, 'failures');
      for (const f of report.failures) {
        const item = element('li');
        item.append(element('strong', f.location), ' — ' + f.message + ' ', element('span', '[' + f.code + ']', 'code'));
        item.dataset.code = f.code;
        item.dataset.location = f.location;
        failures.append(item);
      }
      if (report.failuresNotListed > 0) failures.append(element('li', `and ${grouped(report.failuresNotListed)} more, not listed`));
      details.push(failures);
    }
    if (report.origin !== null) {
      details.push(element('p', `The ledger ${report.origin} signed its state of ${report.checkpointSize.toLocaleString('en-US')} entries; the signature holds.`));
    }
    if (report.events.length > 0) {
      details.push(element('h3', 'Events'));
      const events = element('ol', undefined, 'events');
      for (const e of report.events) {
        const item = element('li', undefined, e.verified ? 'ok' : 'bad');
        item.append(e.sentence ? e.sentence + ': ' : `Event ${e.eventID}: `, element('strong', e.verified ? 'VERIFIED' : 'NOT VERIFIED'));
        events.append(item);
      }
      details.push(events);
    }
    // A large v3 bundle: counts instead of one sentence per event.
    if (report.summary) {
      details.push(element('h3', 'Events (summary)'));
      const summary = element('div', undefined, 'summary');
      summary.id = 'summary';
      for (const line of GreffeVerifier.summaryLines(report.summary, report)) summary.append(element('p', line));
      details.push(summary);
    }
    const holds = report.summary ? report.summary.holds : report.holds || [];
    if (holds.length > 0) {
      details.push(element('h3', 'Legal holds'));
      for (const hold of holds) details.push(element('p', hold + '.'));
    }
    for (const note of report.notes) details.push(element('p', 'Note: ' + note, 'note'));
    // A v1 bundle's erasure claims: the verdict does not cover why content is missing.
    const unproven = GreffeVerifier.unprovenErasures(report);
    if (report.verified && unproven > 0) details.push(element('p', GreffeVerifier.unprovenSentence(unproven), 'bad'));
    const problems = report.failures.length + (report.failuresNotListed || 0);
    const heading = report.verified
      ? 'VERIFIED — every signature, commitment, inclusion proof and link in this bundle holds.'
      : `NOT VERIFIED — ${problems} problem(s); first: ${report.failures[0].location}`;
    show(outcome.status, heading, details, outcome.text);
  }

  fileField.addEventListener('change', run);
  $('check').addEventListener('click', run);
  $('print').addEventListener('click', () => window.print());
  window.addEventListener('error', (event) => {
    show('unreadable', 'The page met an error', [element('p', String(event.message))]);
  });
})();
