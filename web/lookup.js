'use strict';
// The public lookup page (/lookup): "was this picture made or edited here?"
// for the people in the pictures. The picture is read on the device: its
// SHA-256 (WebCrypto, over the file's bytes) and its PDQ hash (web/pdq.js,
// over its decoded pixels) are the only things sent, to GET /v1/lookup on
// this ledger (the page's CSP allows no other connection). Every text from
// the server is shown with textContent: nothing it sends can run.
//
// The one-file verifier (verify.html) carries the same form and this same
// script: its `greffe-lookup-url` meta names the ledger its CSP lets it
// reach ("self" when the ledger serves it), or is empty in a copy made to
// work offline, which then only works out the fingerprints and says where to
// take them. In verify.html's worker (no document) this script does nothing.
(function () {
  if (typeof document === 'undefined' || !document.getElementById('image')) return;
  const $ = (id) => document.getElementById(id);

  const targetMeta = document.querySelector('meta[name="greffe-lookup-url"]');
  const inVerifier = targetMeta !== null;
  const target = inVerifier ? targetMeta.content : 'self';
  const servedOverHTTP = /^https?:$/.test(location.protocol);
  // A page served by a ledger and saved to a file has no ledger of its own any more.
  const lookupBase = target === 'self' ? (servedOverHTTP ? '' : null) : (/^https?:\/\/[^/]+$/.test(target) ? target : null);

  // Meta's advice: PDQ hashes of quality below 50 (flat pictures, little
  // detail) match unrelated pictures too easily; such a picture is looked up
  // by its exact bytes only, and the page says so.
  const PDQ_MIN_QUALITY = 50;
  // WebCrypto digests a whole buffer: a file is read into memory once.
  const MAX_FILE_BYTES = 100 * 1024 * 1024;
  // As `greffe image hash` (ImageDecoding.defaultMaximumPixels).
  const MAX_PIXELS = 50000000;
  const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

  let currentRun = 0;
  let downloadURLs = [];
  let previewURL = null;

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function say(text) {
    $('status').textContent = text;
  }

  // --- EXIF orientation -----------------------------------------------------
  // Meta's reference (and `greffe image hash`) hash the pixels as stored;
  // browsers turn a picture by its EXIF orientation when decoding. So the
  // pixels are decoded from a copy of the bytes whose orientation tag says
  // "as stored" (1). The SHA-256 is of the file exactly as chosen.

  // In a TIFF structure (EXIF's) at `tiff`, sets IFD0's orientation (tag 0x0112) to 1; true if changed.
  function clearTiffOrientation(bytes, tiff, end) {
    if (tiff + 8 > end) return false;
    const little = bytes[tiff] === 0x49 && bytes[tiff + 1] === 0x49;
    const big = bytes[tiff] === 0x4d && bytes[tiff + 1] === 0x4d;
    if (!little && !big) return false;
    const u16 = (at) => (little ? bytes[at] | (bytes[at + 1] << 8) : (bytes[at] << 8) | bytes[at + 1]);
    const u32 = (at) => (little ? u16(at) + u16(at + 2) * 65536 : u16(at) * 65536 + u16(at + 2));
    if (u16(tiff + 2) !== 42) return false;
    const ifd = tiff + u32(tiff + 4);
    if (ifd + 2 > end) return false;
    const count = u16(ifd);
    for (let i = 0; i < count; i++) {
      const entry = ifd + 2 + 12 * i;
      if (entry + 12 > end) return false;
      // A SHORT value sits in the first two bytes of the value field.
      if (u16(entry) === 0x0112 && u16(entry + 2) === 3 && u16(entry + 8) !== 1) {
        bytes[entry + 8] = little ? 1 : 0;
        bytes[entry + 9] = little ? 0 : 1;
        return true;
      }
    }
    return false;
  }

  function clearJpegOrientation(bytes) {
    let at = 2;
    while (at + 4 <= bytes.length && bytes[at] === 0xff) {
      const marker = bytes[at + 1];
      if (marker === 0xff) { at++; continue; } // fill byte
      if (marker === 0xda || marker === 0xd9) break; // image data: no metadata after it matters
      if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { at += 2; continue; }
      const length = (bytes[at + 2] << 8) | bytes[at + 3];
      const end = Math.min(at + 2 + length, bytes.length);
      // APP1 "Exif\0\0" then the TIFF structure.
      if (marker === 0xe1 && length >= 8 && String.fromCharCode(...bytes.subarray(at + 4, at + 10)) === 'Exif\0\0') {
        clearTiffOrientation(bytes, at + 10, end);
      }
      at += 2 + length;
    }
  }

  const CRC_TABLE = (function () {
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    return table;
  })();

  function crc32(bytes) {
    let c = 0xffffffff;
    for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  }

  function clearPngOrientation(bytes) {
    let at = 8;
    while (at + 12 <= bytes.length) {
      const length = ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
      const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
      if (at + 12 + length > bytes.length || type === 'IEND') return;
      // eXIf holds a TIFF structure; the chunk's CRC (type and data) is recomputed after the change.
      if (type === 'eXIf' && clearTiffOrientation(bytes, at + 8, at + 8 + length)) {
        const crc = crc32(bytes.subarray(at + 4, at + 8 + length));
        bytes.set([crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff], at + 8 + length);
      }
      at += 12 + length;
    }
  }

  function withStoredOrientation(original) {
    const bytes = original.slice();
    if (bytes[0] === 0xff && bytes[1] === 0xd8) clearJpegOrientation(bytes);
    else if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) clearPngOrientation(bytes);
    return bytes;
  }

  // --- The two fingerprints ---------------------------------------------------

  class PageProblem extends Error {
    constructor(kind, message) {
      super(message || kind);
      this.kind = kind;
    }
  }

  async function sha256Hex(bytes) {
    if (!window.crypto || !window.crypto.subtle) throw new PageProblem('insecure');
    const digest = new Uint8Array(await window.crypto.subtle.digest('SHA-256', bytes));
    return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // RGBA pixels as stored: no colour management (ICC profiles and PNG gamma
  // ignored, as the reference's decoders do), alpha not premultiplied.
  async function decodePixels(bytes) {
    let bitmap;
    try {
      bitmap = await createImageBitmap(new Blob([withStoredOrientation(bytes)]), {
        imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'none',
      });
    } catch (error) {
      throw new PageProblem('not-image', error && error.message);
    }
    try {
      const { width, height } = bitmap;
      if (width * height > MAX_PIXELS) throw new PageProblem('too-many-pixels');
      const canvas = document.createElement('canvas');
      canvas.width = width;
      canvas.height = height;
      const context = canvas.getContext('2d', { willReadFrequently: true });
      if (!context) throw new PageProblem('not-image', 'no canvas');
      context.drawImage(bitmap, 0, 0);
      return { rgba: context.getImageData(0, 0, width, height).data, width, height };
    } finally {
      bitmap.close();
    }
  }

  // --- Asking the ledger ------------------------------------------------------

  // { answer } or { problem: {kind, status, retryAfter, message} }; never throws.
  async function ask(parameter, hex) {
    let response;
    try {
      response = await fetch(lookupBase + '/v1/lookup?' + parameter + '=' + hex, { cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
    } catch (error) {
      return { problem: { kind: 'network', message: error && error.message } };
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    const message = body && typeof body.error === 'string' ? body.error : '';
    if (response.ok) {
      if (!body || !Array.isArray(body.matches)) return { problem: { kind: 'garbled', status: response.status } };
      return { answer: body };
    }
    const retry = Number.parseInt(response.headers.get('Retry-After') || '', 10);
    const kinds = { 404: 'off', 429: 'busy', 503: 'unavailable' };
    return { problem: { kind: kinds[response.status] || 'server', status: response.status, retryAfter: Number.isFinite(retry) ? retry : null, message } };
  }

  // A match's PDQ distance: how many of its 256 bits differ. The API answers matches within 31
  // (PDQ's threshold) only; a farther one is not a match, whatever the ledger says.
  const PDQ_MATCH_DISTANCE = 31;
  function isBitDistance(value) {
    return Number.isInteger(value) && value >= 0 && value <= PDQ_MATCH_DISTANCE;
  }

  function isHex64(text) {
    return typeof text === 'string' && /^[0-9a-f]{64}$/.test(text);
  }

  // On a ledger with temporal shards (Schemas/shards.md) each match names its `shard`, and its index is in
  // that shard: the same index in two shards is two records.
  function isShard(value) {
    return Number.isSafeInteger(value) && value >= 0;
  }

  // One record per entry (shard and index), whether found by the exact file, by looks, or both.
  function merge(exact, alike) {
    const records = new Map();
    let malformed = 0;
    for (const [answer, byExactFile] of [[exact, true], [alike, false]]) {
      for (const match of (answer && answer.matches) || []) {
        if (!match || !Number.isSafeInteger(match.index) || match.index < 0 || typeof match.kind !== 'string' ||
            typeof match.recorded_at !== 'string' || Number.isNaN(Date.parse(match.recorded_at)) || !Array.isArray(match.roles) ||
            (match.distance !== undefined && match.distance !== null && !isBitDistance(match.distance)) ||
            (match.shard !== undefined && !isShard(match.shard))) {
          malformed++;
          continue;
        }
        const certificate = match.certificate && typeof match.certificate === 'object' && !Array.isArray(match.certificate) ? match.certificate : null;
        const shard = match.shard === undefined ? null : match.shard;
        const id = shard === null ? String(match.index) : `${shard}/${match.index}`;
        const known = records.get(id);
        if (known) {
          for (const role of match.roles) if (typeof role === 'string' && !known.roles.includes(role)) known.roles.push(role);
          if (!byExactFile && isBitDistance(match.distance)) known.distance = match.distance;
          // The exact file's certificate proves more (the very file); either proves the record.
          if (!known.certificate && certificate) known.certificate = certificate;
          continue;
        }
        records.set(id, {
          index: match.index, shard, kind: match.kind, recordedAt: match.recorded_at,
          roles: match.roles.filter((role) => typeof role === 'string'),
          outcome: typeof match.outcome === 'string' ? match.outcome : null,
          exact: byExactFile,
          distance: isBitDistance(match.distance) ? match.distance : null,
          certificate,
          noCertificate: typeof match.no_certificate === 'string' ? match.no_certificate : '',
        });
      }
    }
    const list = [...records.values()].sort(
      (a, b) => Number(b.exact) - Number(a.exact) || (a.distance ?? 0) - (b.distance ?? 0) || (a.shard ?? 0) - (b.shard ?? 0) || a.index - b.index);
    return { list, malformed };
  }

  // --- Plain words --------------------------------------------------------------

  function when(rfc3339) {
    const d = new Date(Date.parse(rfc3339));
    const two = (n) => String(n).padStart(2, '0');
    return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} at ${two(d.getUTCHours())}:${two(d.getUTCMinutes())} UTC`;
  }

  function day(rfc3339) {
    const d = new Date(Date.parse(rfc3339));
    return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
  }

  // PDQ distance in words: 0 to 31 of 256 bits is "the same picture" to PDQ's authors.
  function likeness(distance) {
    if (distance === null || distance === 0) return 'exactly like';
    if (distance <= 10) return 'almost exactly like';
    if (distance <= 20) return 'very much like';
    return 'much like';
  }

  const KINDS = {
    'edit.requested': { name: 'an image-editing request', input: 'was given to an image-editing request', request: true },
    'generation.requested': { name: 'an image-generation request', input: 'was given to an image-generation request as a starting picture', request: true },
    'edit.completed': { name: 'a finished image edit', input: 'was the starting picture of a finished image edit', output: 'was produced by an image edit' },
    'generation.completed': { name: 'a finished image generation', input: 'was a starting picture of a finished image generation', output: 'was produced by an image generator' },
  };

  // The words for a kind the ledger named; a name such as "constructor" or
  // "__proto__" is not a kind this page knows (not Object.prototype's).
  function kindWords(kind) {
    return Object.hasOwn(KINDS, kind) ? KINDS[kind] : null;
  }

  function kindName(kind) {
    const words = kindWords(kind);
    return words ? words.name : `a record of type “${kind}”`;
  }

  function decisionWords(kind, outcome) {
    const words = kindWords(kind);
    const request = !words || words.request;
    if (outcome === null) return 'the record does not say what the platform decided';
    if (outcome === 'blocked') return request ? 'the platform blocked it' : 'the platform did not deliver the result';
    if (outcome === 'allowed') return request ? 'the platform allowed it' : 'the platform delivered the result';
    if (outcome === 'modified') {
      return (request ? 'the platform allowed it' : 'the platform delivered the result') + ' with changes its rules required (for example, nudity removed)';
    }
    return `the platform's recorded decision was “${outcome}”`;
  }

  function sentence(record) {
    const subject = record.exact ? 'This exact picture (the very same file)' : `A picture that looks ${likeness(record.distance)} yours`;
    const words = kindWords(record.kind);
    const roles = record.roles.map((role) => (words && (role === 'input' || role === 'output') && words[role]) || (role === 'output' ? 'was produced' : 'was used'));
    const what = roles.length ? roles.join(' and ') : `is named in ${kindName(record.kind)}`;
    return `${subject} ${what} on ${when(record.recordedAt)}; ${decisionWords(record.kind, record.outcome)}.`;
  }

  function distanceWords(distance) {
    if (distance === null) return '';
    return `How close: ${distance} of the 256 points of the fingerprints differ (0 would mean they look identical; up to 31 counts as the same picture).`;
  }

  function wait(seconds) {
    if (!Number.isFinite(seconds) || seconds <= 0) return 'in a moment';
    if (seconds < 90) return `in about ${seconds} second${seconds === 1 ? '' : 's'}`;
    // Beyond a day the number says nothing useful to a person (and a hostile one could fill the line).
    if (seconds > 24 * 3600) return 'later';
    const minutes = Math.ceil(seconds / 60);
    return `in about ${minutes} minutes`;
  }

  // A problem that stopped the search, in words; null if the search may go on.
  function problemWords(problem) {
    switch (problem.kind) {
      case 'network':
        return ['The ledger could not be reached', 'Your device did not get an answer. Check that you are connected to the internet, then try again. Your picture was not sent anywhere.'];
      case 'off':
        return ['Looking up pictures is switched off here', 'The people who run this ledger have switched off looking up pictures. Nothing was searched. You can still report the picture to the platform, and ask a victims\' support service or the police for help.'];
      case 'busy':
        return ['Too many searches just now', `This ledger limits how often each connection may search. Please try again ${wait(problem.retryAfter)}.`];
      case 'unavailable':
        return ['The ledger is not ready', 'The ledger is starting up or busy and could not answer. Please try again in a minute.'];
      default:
        return ['The ledger gave an answer this page does not understand', `Please try again later. (The ledger answered ${problem.status || 'something unreadable'}.)`];
    }
  }

  function fileProblemWords(problem) {
    switch (problem.kind) {
      case 'not-image':
        return ['This file is not a picture this page can open', 'Choose a photo or screenshot file (for example a .jpg or .png). Nothing was searched.'];
      case 'too-big':
        return ['This file is too large', 'Files up to 100 MB can be looked up. Try a smaller copy of the picture. Nothing was searched.'];
      case 'too-many-pixels':
        return ['This picture is too large', 'Pictures up to 50 million pixels can be looked up. Try a smaller copy. Nothing was searched.'];
      case 'insecure':
        return ['This page must be opened over a secure connection', 'Open it at an address starting with https:// and try again. Nothing was searched.'];
      default:
        return ['Something went wrong on this device', 'The picture could not be read. Nothing was searched.'];
    }
  }

  // --- Showing the answer --------------------------------------------------------

  function releaseDownloads() {
    for (const url of downloadURLs) URL.revokeObjectURL(url);
    downloadURLs = [];
  }

  function helpList(help) {
    const items = Array.isArray(help) ? help : [];
    const list = element('ul', undefined, 'help');
    list.id = 'help-lines';
    for (const item of items) {
      if (!item || typeof item.title !== 'string' || typeof item.url !== 'string') continue;
      // Links only to what the server allows (https, mail, phone): nothing else can run from a click.
      if (!/^(https:\/\/|mailto:|tel:)/i.test(item.url)) continue;
      const entry = element('li');
      const link = element('a', item.title);
      link.href = item.url;
      link.rel = 'noopener noreferrer';
      entry.append(link);
      if (typeof item.description === 'string' && item.description) entry.append(element('span', ' — ' + item.description));
      list.append(entry);
    }
    return list.children.length ? list : null;
  }

  function certificateLink(record) {
    // The ledger answers canonical JSON (RFC 8785), whose serialisation is
    // JSON.stringify's: this is the certificate byte for byte as received.
    const text = JSON.stringify(record.certificate);
    const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
    downloadURLs.push(url);
    const link = element('a', 'Download the proof (certificate) for this record', 'button');
    link.href = url;
    // A shard's index is in that shard: its file name names the shard too (two shards may have the same index).
    link.download = record.shard === null ? `${record.index}.greffe-certificate.json` : `shard-${record.shard}-${record.index}.greffe-certificate.json`;
    link.dataset.index = String(record.index);
    if (record.shard !== null) link.dataset.shard = String(record.shard);
    return link;
  }

  // "record number 12", or "record number 12 of shard 3" on a ledger with temporal shards.
  function recordNumber(record) {
    return record.shard === null ? `record number ${record.index}` : `record number ${record.index} of shard ${record.shard}`;
  }

  function recordArticle(record, position) {
    const article = element('article', undefined, 'match');
    article.dataset.index = String(record.index);
    if (record.shard !== null) article.dataset.shard = String(record.shard);
    const heading = element('h3', `Record ${position}: ${kindName(record.kind)}, ${day(record.recordedAt)}`);
    // The ledger's part (shard) the record is in: its record number counts from the start of that shard.
    if (record.shard !== null) heading.append(' ', element('span', `(shard ${record.shard})`, 'shard'));
    article.append(heading);
    article.append(element('p', sentence(record), 'finding'));
    if (record.distance !== null && !record.exact) article.append(element('p', distanceWords(record.distance), 'hint'));
    if (record.certificate) {
      article.append(certificateLink(record));
      article.append(element('p', 'Keep this file. It proves this record exists and what it says about your picture, without saying who asked. '
        + 'Anyone can check it, even without the internet.', 'hint'));
    } else if (/ask again/.test(record.noCertificate)) {
      article.append(element('p', 'This record is very recent: its proof is not ready yet. Search again in a minute to get it.', 'note'));
    } else {
      article.append(element('p', 'The ledger cannot give a proof file for this record on its own: it was written before the ledger could prove one '
        + `part of a record without showing all of it. The platform, a lawyer or the police can ask for the whole record, quoting ${recordNumber(record)}.`, 'note'));
    }
    const facts = element('dl', undefined, 'facts');
    const fact = (name, value) => facts.append(element('dt', name), element('dd', value));
    if (record.shard !== null) fact('Shard', `${record.shard} (the ledger is kept in parts; the record number counts within this part)`);
    fact('Record number', String(record.index));
    fact('Recorded', when(record.recordedAt));
    fact('Type', record.kind);
    fact('Found by', record.exact ? (record.distance !== null ? 'the exact file, and how it looks' : 'the exact file') : 'how it looks');
    if (record.outcome !== null) fact('Decision', record.outcome);
    if (!record.certificate && record.noCertificate) fact('Why no proof file', record.noCertificate);
    const more = element('details');
    more.append(element('summary', 'Details of this record'), facts);
    article.append(more);
    return article;
  }

  function section(title, nodes) {
    const part = element('section', undefined, 'explain');
    part.append(element('h3', title), ...nodes);
    return part;
  }

  function bullets(lines) {
    const list = element('ul');
    for (const line of lines) list.append(line instanceof Node ? line : element('li', line));
    return list;
  }

  function technicalDetails(facts) {
    const details = element('details', undefined, 'technical');
    details.id = 'technical';
    const list = element('dl', undefined, 'facts');
    for (const [name, value] of facts) {
      if (value === undefined || value === null || value === '') continue;
      list.append(element('dt', name), element('dd', value, 'mono'));
    }
    details.append(element('summary', 'Technical details'), list);
    return details;
  }

  function showResults(nodes, outcome) {
    const results = $('results');
    $('answer').replaceChildren(...nodes);
    results.dataset.outcome = outcome;
    results.dataset.run = String(currentRun);
    results.hidden = false;
    // Keyboard and screen-reader users land on the answer; Tab goes on into it.
    $('results-heading').focus();
  }

  function showFileProblem(problem, fingerprints) {
    const [title, text] = fileProblemWords(problem);
    const box = element('div', undefined, 'result bad');
    box.setAttribute('role', 'alert');
    box.append(element('h3', title), element('p', text));
    say('');
    showResults([box, technicalDetails([['Problem', problem.kind], ['Browser message', problem.message], ...fingerprints])], 'error-' + problem.kind);
  }

  function showAnswer(state) {
    const { exact, alike, fingerprints, lowQuality } = state;
    const problems = [exact.problem, alike && alike.problem].filter(Boolean);
    const answers = [exact.answer, alike && alike.answer].filter(Boolean);
    const help = (answers[0] && answers[0].help) || [];
    const nodes = [];

    if (answers.length === 0) {
      const problem = problems[0];
      const [title, text] = problemWords(problem);
      const box = element('div', undefined, 'result bad');
      box.setAttribute('role', 'alert');
      box.append(element('h3', title), element('p', text));
      if (problem.kind === 'network' || problem.kind === 'busy' || problem.kind === 'unavailable') {
        const again = element('button', 'Try again', 'secondary');
        again.type = 'button';
        again.id = 'try-again';
        again.addEventListener('click', () => lookUp(state.bytesHashes, true));
        box.append(again);
      }
      nodes.push(box);
      say('');
      nodes.push(technicalDetails([['Problem', problem.kind], ['HTTP status', problem.status ? String(problem.status) : ''],
        ['Ledger message', problem.message], ...fingerprints]));
      showResults(nodes, 'error-' + problem.kind);
      return;
    }

    const { list, malformed } = merge(exact.answer, alike && alike.answer);
    const truncated = answers.some((a) => a.truncated === true);
    const helpLines = helpList(help);
    const summary = element('p', undefined, 'summary');
    summary.id = 'summary';
    if (list.length === 0) {
      summary.textContent = 'Nothing found. This ledger has no record of this picture, or of one that looks the same.';
      nodes.push(summary);
      nodes.push(section('What this means', [bullets([
        'None of the image services that use this ledger recorded this picture being given to them or made by them.',
        'It does not mean that nothing happened: the service may not use this ledger, or may not have recorded it; '
          + 'a copy that was cropped, turned, mirrored or heavily changed may not be recognised; and services that do not use this ledger are not covered.',
        'If you have another copy of the picture (for example the original photo), you can look that up too.',
      ])]));
    } else {
      summary.textContent = list.length === 1
        ? 'Found: this ledger has 1 record about this picture.'
        : `Found: this ledger has ${list.length} records about this picture.`;
      nodes.push(summary);
      if (truncated) nodes.push(element('p', 'More records name this picture than are shown here. Each record below is complete on its own.', 'note'));
      list.forEach((record, i) => nodes.push(recordArticle(record, i + 1)));
      const anyAlike = list.some((record) => !record.exact);
      const proves = [
        'The platform wrote this down at the time shown, in a ledger where records cannot be changed or removed without it showing.',
        'The proof file (certificate) shows that this record exists and what it says about the picture and the platform\'s decision. '
          + 'It reveals nothing else: not who asked, not their account, not what they typed.',
      ];
      const notProves = [
        'Who made the request: the ledger never shows that to the public. The platform, or the police with a court order, can find out.',
        'That this is everything: other requests may exist that were not recorded, or were recorded by pictures too different to be recognised.',
        'That the platform\'s own account is complete: the record is what the platform wrote down.',
      ];
      if (anyAlike) {
        notProves.unshift('A match by looks means the pictures look very similar, not that they are the same file. '
          + 'Each record above says how close the match is. Look at your picture and decide whether it is yours.');
      }
      nodes.push(section('What this proves', [bullets(proves)]));
      nodes.push(section('What this does not prove', [bullets(notProves)]));
      const verify = element('li');
      const verifyLink = element('a', inVerifier ? 'the checker at the top of this page' : 'the certificate checker');
      verifyLink.href = inVerifier ? '#form' : '/verify.html';
      verify.append('Anyone (the platform, a lawyer, the police) can check a proof file with ', verifyLink,
        ', which works without the internet, or with the greffe verify program.');
      const next = element('ol');
      next.append(
        element('li', 'Save the proof file somewhere safe. It stays valid even if this page or the platform changes.'),
        element('li', `Report the picture to the platform and attach the proof file. Mention the record number${list.some((record) => record.shard !== null) ? ' and its shard' : ''}.`),
        element('li', helpLines ? 'Get help and advice from the places listed below.' : 'You can also ask a victims\' support service, a lawyer or the police for help.'),
        verify);
      nodes.push(section('What you can do next', [next]));
    }

    if (lowQuality) {
      nodes.push(element('p', 'This picture has very little detail, so only exact copies of this file were searched for, not pictures that look like it.', 'note'));
    }
    for (const problem of problems) {
      const [title] = problemWords(problem);
      nodes.push(element('p', `Part of the search could not be done (${title.toLowerCase()}): `
        + (problem === exact.problem ? 'exact copies of this file were not searched for.' : 'pictures that look like this one were not searched for.')
        + ' You can try again later.', 'note'));
    }
    if (helpLines) {
      nodes.push(section('Where to get help', [helpLines]));
    }
    const checkpoint = answers[0].checkpoint;
    nodes.push(technicalDetails([
      ...fingerprints,
      ['Records listed', String(list.length)],
      ['Matches this page could not read', malformed ? String(malformed) : ''],
      ['Ledger checkpoint', typeof checkpoint === 'string' ? checkpoint : ''],
    ]));
    say('');
    showResults(nodes, list.length ? 'found' : 'nothing');
  }

  // A copy of the verifier with no ledger to ask: the fingerprints, and where to take them.
  function showOffline(hashes) {
    const box = element('div', undefined, 'result');
    box.append(element('h3', 'This copy of the checker cannot ask a ledger'),
      element('p', 'It was made to work without the internet, so it sends nothing anywhere, not even the fingerprints below. '
        + 'To look the picture up, open the lookup page of the ledger the image service uses (its address ends in /lookup) and '
        + 'choose the picture there, or give these fingerprints to someone who can run this command:'));
    const command = ['greffe lookup --url LEDGER-ADDRESS --sha256', hashes.sha256].concat(hashes.pdq ? ['--pdq', hashes.pdq] : []).join(' ');
    const code = element('pre', command, 'mono');
    code.id = 'lookup-command';
    box.append(code);
    say('');
    showResults([box, technicalDetails(hashes.fingerprints)], 'offline');
  }

  // --- The flow -----------------------------------------------------------------

  async function lookUp(hashes, again) {
    if (lookupBase === null) {
      showOffline(hashes);
      return;
    }
    const run = ++currentRun;
    releaseDownloads();
    say(again ? 'Asking the ledger again…' : 'Asking the ledger…');
    const exact = await ask('sha256', hashes.sha256);
    // Switched off, rate-limited or unreachable: asking by looks would fail the same way.
    const stop = exact.problem && ['off', 'busy', 'network'].includes(exact.problem.kind);
    const alike = hashes.pdq && !stop ? await ask('pdq', hashes.pdq) : null;
    if (run !== currentRun) return;
    showAnswer({ exact, alike, fingerprints: hashes.fingerprints, lowQuality: hashes.lowQuality, bytesHashes: hashes });
  }

  async function handleFile(file) {
    const run = ++currentRun;
    releaseDownloads();
    $('results').hidden = true;
    if (previewURL) URL.revokeObjectURL(previewURL);
    previewURL = null;
    $('preview-wrap').hidden = true;
    if (!file) return;
    say('Reading your picture on this device…');
    if (file.size > MAX_FILE_BYTES) {
      showFileProblem(new PageProblem('too-big'), []);
      return;
    }
    let hashes;
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const sha256 = await sha256Hex(bytes);
      const fingerprints = [['File', file.name], ['Size', `${bytes.length.toLocaleString('en-US')} bytes`], ['SHA-256 (exact file)', sha256]];
      // Let the status be painted before the pixels are worked through.
      await new Promise((resolve) => setTimeout(resolve, 20));
      let pixels;
      try {
        pixels = await decodePixels(bytes);
      } catch (problem) {
        if (run === currentRun) showFileProblem(problem instanceof PageProblem ? problem : new PageProblem('other', String(problem)), fingerprints);
        return;
      }
      if (run !== currentRun) return;
      previewURL = URL.createObjectURL(file);
      $('preview').src = previewURL;
      $('preview-wrap').hidden = false;
      const pdq = GreffePDQ.hash(pixels.rgba, pixels.width, pixels.height);
      const lowQuality = pdq.quality < PDQ_MIN_QUALITY;
      fingerprints.push(['Picture size', `${pixels.width} × ${pixels.height} pixels`], ['PDQ (how it looks)', pdq.hash],
        ['PDQ quality', `${pdq.quality} of 100${lowQuality ? ' (too low to search by looks)' : ''}`]);
      hashes = { sha256, pdq: lowQuality ? null : pdq.hash, lowQuality, fingerprints };
    } catch (problem) {
      if (run === currentRun) showFileProblem(problem instanceof PageProblem ? problem : new PageProblem('other', String(problem)), []);
      return;
    }
    if (run !== currentRun) return;
    await lookUp(hashes, false);
  }

  if (inVerifier) {
    const where = $('lookup-where');
    where.replaceChildren(element('strong', 'Your picture is never uploaded.'), lookupBase === null
      ? ' This copy of the page works offline: it works out two fingerprints of the picture here, on this device, and tells you where to take them.'
      : ` Only two fingerprints of it, worked out here on this device, are sent to the ledger at ${lookupBase || location.origin}. `
        + 'The page cannot reach any other address: the browser enforces that. Nobody can rebuild your picture from the fingerprints.');
  }

  const input = $('image');
  input.addEventListener('change', () => handleFile(input.files && input.files[0]));

  const zone = $('dropzone');
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('dragging');
    const file = event.dataTransfer && event.dataTransfer.files && event.dataTransfer.files[0];
    if (file) handleFile(file);
  });
  // A picture dropped beside the box must not make the browser leave the page to show it.
  window.addEventListener('dragover', (event) => event.preventDefault());
  window.addEventListener('drop', (event) => event.preventDefault());
})();
