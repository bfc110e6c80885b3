// The verifier page: reads the chosen file locally (nothing is sent anywhere:
// the page's Content-Security-Policy forbids every connection) and shows the
// report of GreffeVerifier.check.
(function () {
  const $ = (id) => document.getElementById(id);
  const keyField = $('vkey'), fileField = $('bundle'), result = $('result');
  const MAX_BYTES = 512 * 1024 * 1024;
  let runs = 0;

  const embedded = document.querySelector('meta[name="greffe-verifier-key"]');
  if (embedded && embedded.content.trim() !== '') {
    keyField.value = embedded.content.trim();
    $('vkey-source').textContent =
      'This key was written into the page by whoever made it. Compare it with the key the ledger publishes, or paste the key you were given.';
  }

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  // Every outcome ends here: the result section always says something.
  function show(status, heading, details, reportText) {
    runs += 1;
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

  async function run() {
    const file = fileField.files && fileField.files[0];
    if (!file) {
      show('none', 'Choose a bundle file to check.', []);
      return;
    }
    if (file.size > MAX_BYTES) {
      show('unreadable', 'NOT VERIFIED: the file is too large to check in a browser', [element('p', 'Use `greffe verify` on the command line for files over 512 MiB.')]);
      return;
    }
    $('verdict').textContent = 'Checking…';
    let outcome;
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      outcome = await GreffeVerifier.check(bytes, keyField.value, file.name);
    } catch (error) {
      // A bug or an exhausted browser, never a reason to show a blank page.
      show('unreadable', 'The file could not be checked', [element('p', 'The check stopped: ' + (error && error.message ? error.message : String(error)))]);
      return;
    }
    if (outcome.status === 'key') {
      show('key', 'The verifier key is not usable', [element('p', outcome.message)]);
      return;
    }
    if (outcome.status === 'unreadable') {
      show('unreadable', 'NOT VERIFIED: this file is not a readable evidence bundle', [element('p', outcome.message)]);
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
    for (const note of report.notes) details.push(element('p', 'Note: ' + note, 'note'));
    // A v1 bundle's erasure claims: the verdict does not cover why content is missing.
    const unproven = GreffeVerifier.unprovenErasures(report);
    if (report.verified && unproven > 0) details.push(element('p', GreffeVerifier.unprovenSentence(unproven), 'bad'));
    const heading = report.verified
      ? 'VERIFIED — every signature, commitment, inclusion proof and link in this bundle holds.'
      : `NOT VERIFIED — ${report.failures.length} problem(s); first: ${report.failures[0].location}`;
    show(outcome.status, heading, details, outcome.text);
  }

  fileField.addEventListener('change', run);
  $('check').addEventListener('click', run);
  $('print').addEventListener('click', () => window.print());
  window.addEventListener('error', (event) => {
    show('unreadable', 'The page met an error', [element('p', String(event.message))]);
  });
})();
