'use strict';
// Greffe evidence-bundle verification in the browser (WebCrypto only).
//
// This is a port of `greffe verify` (Sources/GreffeVerify/BundleVerifier.swift,
// EvidenceBundle.swift, BundleReportRendering.swift and the GreffeCore note,
// checkpoint, entry and proof code): the same checks, in the same order, with
// the same words, so a court's browser and the command line never disagree.
// ops/tests/browser.py compares the two reports on real and tampered bundles.
// Sizes and indices are BigInt: tree arithmetic must not lose bits past 2^53.
const GreffeVerifier = (function () {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  const utf8 = new TextEncoder();
  const FORMAT_V1 = 'greffe-bundle/v1', FORMAT_V2 = 'greffe-bundle/v2';
  const CLOCK_SKEW_MS = 5n * 60n * 1000n;
  const MAX_NOTE_BYTES = 1000000;
  const MAX_SIGNATURES = 100;

  // A refusal with a message meant for the person checking (never a stack trace).
  class Refusal extends Error {}

  // ---- bytes ---------------------------------------------------------------
  const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
  function base64Decode(text) {
    if (typeof text !== 'string' || !BASE64.test(text)) return null;
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  }
  function base64Encode(bytes) {
    let binary = '';
    for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary);
  }
  function hashFrom(text) {
    const bytes = base64Decode(text);
    return bytes && bytes.length === 32 ? bytes : null;
  }
  function equal(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  function concat(parts) {
    let length = 0;
    for (const p of parts) length += p.length;
    const out = new Uint8Array(length);
    let offset = 0;
    for (const p of parts) { out.set(p, offset); offset += p.length; }
    return out;
  }
  async function sha256(...parts) {
    return new Uint8Array(await subtle.digest('SHA-256', concat(parts)));
  }
  // RFC 9162 §2.1.1: domain-separated leaf and node hashes.
  const leafHash = (entry) => sha256(Uint8Array.of(0), entry);
  const nodeHash = (left, right) => sha256(Uint8Array.of(1), left, right);
  const EMPTY_ROOT = base64Decode('47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=');

  function readU64(bytes, offset) {
    let value = 0n;
    for (let i = 0; i < 8; i++) value = (value << 8n) | BigInt(bytes[offset + i]);
    return value;
  }
  function grouped(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  }
  // RFC3339Time.format (Sources/GreffeCore/RFC3339Time.swift): UTC, three
  // fraction digits, a year past 9999 with more digits and no sign.
  function formatTime(milliseconds) {
    if (milliseconds > 8640000000000000n) return `${milliseconds} ms after 1970`;
    return new Date(Number(milliseconds)).toISOString().replace(/^\+0*/, '');
  }
  // RFC3339Time.signedMilliseconds: exactly RFC 3339 §5.6 date-time ("t" and
  // "z" may be lower case, ASCII digits only, the day checked against its
  // month); the fraction truncated to milliseconds, a leap second :60 read
  // as the next minute's first second, times before 1970 negative.
  const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
  function parseTime(text) {
    const m = RFC3339.exec(text);
    if (!m) return null;
    const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    const monthDays = month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
    if (month < 1 || month > 12 || day < 1 || day > monthDays || hour > 23 || minute > 59 || second > 60) return null;
    let offset = 0;
    if (m[8]) {
      const offsetHour = Number(m[9]), offsetMinute = Number(m[10]);
      if (offsetHour > 23 || offsetMinute > 59) return null;
      offset = (m[8] === '-' ? -1 : 1) * (offsetHour * 60 + offsetMinute);
    }
    // Howard Hinnant's days_from_civil; every value below 2^53.
    const y = month <= 2 ? year - 1 : year;
    const era = Math.floor(y / 400);
    const yearOfEra = y - era * 400;
    const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
    const days = era * 146097 + yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear - 719468;
    const seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset * 60;
    return BigInt(seconds) * 1000n + BigInt(m[7] ? Number((m[7] + '00').slice(0, 3)) : 0);
  }

  // ---- JSON (RFC 8785 canonical form, as the commitment needs) -------------
  function isObject(value) { return value !== null && typeof value === 'object' && !Array.isArray(value); }
  function canonical(value) {
    if (Array.isArray(value)) return '[' + value.map(canonical).join(',') + ']';
    if (isObject(value)) {
      // Default sort compares UTF-16 code units, as RFC 8785 §3.2.3 asks.
      const keys = Object.keys(value).sort();
      return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonical(value[k])).join(',') + '}';
    }
    // ECMAScript number and string serialisation is RFC 8785's by definition.
    return JSON.stringify(value);
  }
  // The bundle's JSON, read as strictly as greffe verify's parser
  // (GreffeCore JSONParser: RFC 8259 plus the I-JSON rules of RFC 7493):
  // unique member names, no lone surrogates, finite numbers, at most 128
  // levels. JSON.parse would keep the last of two equal names, so a body
  // could show one value and be checked with another.
  const MAX_DEPTH = 128;
  const ESCAPES = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
  const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
  function parseJSON(text) {
    let i = 0, depth = 0;
    const fail = (message) => { throw new Refusal(`${message} at character ${i}`); };
    const space = () => {
      for (let c = text.charCodeAt(i); c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d; c = text.charCodeAt(++i));
    };
    const hex4 = (at) => {
      const digits = text.slice(at, at + 4);
      if (!/^[0-9A-Fa-f]{4}$/.test(digits)) fail('a \\u escape without four hex digits');
      return parseInt(digits, 16);
    };
    function string() {
      i += 1;
      let out = '', start = i;
      for (;;) {
        if (i >= text.length) fail('the document ends inside a string');
        const c = text.charCodeAt(i);
        if (c === 0x22) { out += text.slice(start, i); i += 1; return out; }
        if (c < 0x20) fail('a control character inside a string');
        if (c !== 0x5c) { i += 1; continue; }
        out += text.slice(start, i);
        const e = text[i + 1];
        if (e !== undefined && Object.prototype.hasOwnProperty.call(ESCAPES, e)) {
          out += ESCAPES[e];
          i += 2;
        } else if (e === 'u') {
          const unit = hex4(i + 2);
          i += 6;
          if (unit >= 0xd800 && unit <= 0xdbff) {
            if (text[i] !== '\\' || text[i + 1] !== 'u') fail('a high surrogate not followed by a low surrogate escape');
            const low = hex4(i + 2);
            if (low < 0xdc00 || low > 0xdfff) fail('a high surrogate not followed by a low surrogate escape');
            out += String.fromCharCode(unit, low);
            i += 6;
          } else if (unit >= 0xdc00 && unit <= 0xdfff) {
            fail('a lone low surrogate');
          } else {
            out += String.fromCharCode(unit);
          }
        } else {
          fail('an escape that JSON does not define');
        }
        start = i;
      }
    }
    function value() {
      space();
      const c = text[i];
      if (c === undefined) fail('the document ends in the middle of a value');
      if (c === '"') return string();
      if (c === '{' || c === '[') {
        if (depth >= MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH} levels`);
        depth += 1;
        i += 1;
        space();
        const close = c === '{' ? '}' : ']';
        // Null prototype: a member named __proto__ is data like any other.
        const out = c === '{' ? Object.create(null) : [];
        if (text[i] === close) { i += 1; depth -= 1; return out; }
        for (;;) {
          if (c === '{') {
            space();
            if (text[i] !== '"') fail('expected a member name');
            const key = string();
            if (Object.prototype.hasOwnProperty.call(out, key)) fail(`duplicate member name ${JSON.stringify(key)}`);
            space();
            if (text[i] !== ':') fail("expected ':' after a member name");
            i += 1;
            out[key] = value();
          } else {
            out.push(value());
          }
          space();
          if (text[i] === ',') { i += 1; continue; }
          if (text[i] === close) { i += 1; depth -= 1; return out; }
          fail(`expected ',' or '${close}'`);
        }
      }
      for (const [word, literal] of [['true', true], ['false', false], ['null', null]]) {
        if (text.startsWith(word, i)) { i += word.length; return literal; }
      }
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (!m) fail(`unexpected character ${JSON.stringify(c)}`);
      i += m[0].length;
      const number = Number(m[0]);
      if (!Number.isFinite(number)) fail('a number too large for a double');
      return number;
    }
    const result = value();
    space();
    if (i < text.length) fail('unexpected data after the document');
    return result;
  }

  function member(value, key) { return isObject(value) && Object.prototype.hasOwnProperty.call(value, key) ? value[key] : undefined; }
  function stringValue(value) { return typeof value === 'string' ? value : undefined; }

  // ---- signed notes and keys (C2SP signed-note, tlog-checkpoint) ----------
  // Unicode White_Space, as Swift's Character.isWhitespace (JavaScript's \s
  // differs: it has U+FEFF and lacks U+0085).
  const WHITE_SPACE = '\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000';
  const KEY_NAME_REFUSED = new RegExp(`[${WHITE_SPACE}+]`, 'u');
  const EDGE_SPACE = new RegExp(`^[${WHITE_SPACE}]+|[${WHITE_SPACE}]+$`, 'gu');
  function isValidKeyName(name) { return name.length > 0 && !KEY_NAME_REFUSED.test(name); }
  function hex8(n) { return n.toString(16).padStart(8, '0'); }
  async function keyID(name, publicKey) {
    const digest = await sha256(utf8.encode(name), Uint8Array.of(0x0a, 0x01), publicKey);
    return ((digest[0] << 24) | (digest[1] << 16) | (digest[2] << 8) | digest[3]) >>> 0;
  }

  // NoteVerifier(verifierKey:): name+hexkeyid+base64(0x01 ‖ Ed25519 public key).
  async function parseVerifierKey(text) {
    const trimmed = String(text).replace(EDGE_SPACE, '');
    const first = trimmed.indexOf('+');
    const second = first < 0 ? -1 : trimmed.indexOf('+', first + 1);
    if (second < 0) throw new Refusal('verifier key is not of the form name+keyid+key');
    const name = trimmed.slice(0, first), idText = trimmed.slice(first + 1, second), keyText = trimmed.slice(second + 1);
    if (!isValidKeyName(name)) throw new Refusal('verifier key is not of the form name+keyid+key');
    if (!/^[0-9A-Fa-f]{8}$/.test(idText)) throw new Refusal('verifier key ID is not 8 hex digits');
    const raw = base64Decode(keyText);
    if (!raw || raw.length !== 33 || raw[0] !== 0x01) throw new Refusal('verifier key is not an Ed25519 key (0x01 ‖ 32 bytes)');
    const publicKey = raw.slice(1);
    let cryptoKey;
    try {
      cryptoKey = await subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
    } catch (error) {
      if (error && error.name === 'NotSupportedError') {
        throw new Refusal('this browser cannot check Ed25519 signatures (WebCrypto); use a current browser or `greffe verify`');
      }
      throw new Refusal('verifier key is not an Ed25519 key (0x01 ‖ 32 bytes)');
    }
    const id = await keyID(name, publicKey);
    if (id !== parseInt(idText, 16)) throw new Refusal('verifier key ID does not match its name and key');
    return { name, keyID: id, cryptoKey, verifierKey: `${name}+${hex8(id)}+${base64Encode(raw)}` };
  }

  // SignedNote(parsing:): strict, signatures not yet checked.
  function parseNote(note) {
    if (utf8.encode(note).length > MAX_NOTE_BYTES) throw new Refusal(`note is larger than ${MAX_NOTE_BYTES} bytes`);
    for (const ch of note) {
      const c = ch.codePointAt(0);
      if ((c < 0x20 && c !== 0x0a) || c === 0x7f) {
        throw new Refusal(`note contains the control character U+${c.toString(16).toUpperCase()}`);
      }
    }
    const split = note.lastIndexOf('\n\n');
    if (split < 0) throw new Refusal('note has no blank line before its signatures');
    const text = note.slice(0, split) + '\n';
    const block = note.slice(split + 2);
    if (!block.endsWith('\n')) throw new Refusal('note does not end with a newline');
    const signatures = [];
    for (const line of block.slice(0, -1).split('\n')) {
      const shown = [...line].slice(0, 80).join('');
      if (!line.startsWith('— ')) throw new Refusal(`signature line does not start with "— ": ${shown}`);
      const fields = line.slice(2).split(' ');
      if (fields.length !== 2 || !isValidKeyName(fields[0])) throw new Refusal(`malformed signature line: ${shown}`);
      const blob = base64Decode(fields[1]);
      if (!blob || blob.length < 5 || base64Encode(blob) !== fields[1]) {
        throw new Refusal(`signature of ${fields[0]} is not canonical base64 of a key ID and a signature`);
      }
      const id = ((blob[0] << 24) | (blob[1] << 16) | (blob[2] << 8) | blob[3]) >>> 0;
      signatures.push({ name: fields[0], keyID: id, signature: blob.slice(4) });
      if (signatures.length > MAX_SIGNATURES) throw new Refusal(`note has more than ${MAX_SIGNATURES} signatures`);
    }
    if (signatures.length === 0) throw new Refusal('note has no signature');
    return { text, signatures };
  }

  function parseCanonicalDecimal(text) {
    if (!/^(0|[1-9][0-9]*)$/.test(text)) return null;
    const value = BigInt(text);
    return value < (1n << 64n) ? value : null;
  }

  // Checkpoint(parsing:): origin, canonical decimal size, canonical base64 root, extensions.
  function parseCheckpoint(text) {
    if (!text.endsWith('\n')) throw new Refusal('checkpoint does not end with a newline');
    const lines = text.slice(0, -1).split('\n');
    if (lines.length < 3) throw new Refusal('checkpoint has fewer than three lines');
    if (lines[0].length === 0) throw new Refusal('checkpoint origin line is empty');
    const size = parseCanonicalDecimal(lines[1]);
    if (size === null) throw new Refusal(`checkpoint tree size "${[...lines[1]].slice(0, 24).join('')}" is not a canonical decimal number`);
    const root = hashFrom(lines[2]);
    if (!root || base64Encode(root) !== lines[2]) throw new Refusal('checkpoint root is not the base64 of 32 bytes');
    if (lines.slice(3).some((l) => l.length === 0)) throw new Refusal('checkpoint has an empty extension line');
    return { origin: lines[0], size, root };
  }

  // CheckpointVerifier.verify: signed by the key (as Go's note.Open: every
  // signature claiming to be by it must hold), and origin = key name.
  async function verifyCheckpoint(noteText, key) {
    let note, checkpoint;
    try { note = parseNote(noteText); } catch (e) { throw new Refusal(`checkpoint note: ${e.message}`); }
    try { checkpoint = parseCheckpoint(note.text); } catch (e) { throw new Refusal(`checkpoint: ${e.message}`); }
    const message = utf8.encode(note.text);
    const mine = note.signatures.filter((s) => s.keyID === key.keyID && s.name === key.name);
    let valid = mine.length > 0;
    for (const s of mine) {
      let ok = false;
      try { ok = await subtle.verify({ name: 'Ed25519' }, key.cryptoKey, s.signature, message); } catch (e) { ok = false; }
      if (!ok) valid = false;
    }
    if (!valid) throw new Refusal(`checkpoint of size ${checkpoint.size} carries no valid signature by ${key.name}+${hex8(key.keyID)}`);
    if (checkpoint.origin !== key.name) throw new Refusal(`checkpoint origin "${checkpoint.origin}" is not the key's name "${key.name}"`);
    return checkpoint;
  }

  // ---- entries (Schemas/entry.md, layout 1) --------------------------------
  function decodeEntry(bytes) {
    if (bytes.length === 0) throw new Refusal('entry is empty');
    if (bytes[0] !== 1) throw new Refusal(`entry layout version ${bytes[0]} is unknown (expected 1)`);
    if (bytes.length <= 82) throw new Refusal(`entry of ${bytes.length} bytes is shorter than the 83 bytes of layout 1`);
    const kindLength = bytes[81];
    if (bytes.length !== 82 + kindLength) throw new Refusal(`entry is ${bytes.length} bytes but its kind length says ${82 + kindLength}`);
    const kindBytes = bytes.slice(82);
    const validKind = kindBytes.length <= 64 &&
      kindBytes.every((c) => (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x5f || c === 0x2d);
    if (!validKind) throw new Refusal('entry kind is not a valid kind name');
    return {
      index: readU64(bytes, 1), sequencedAt: readU64(bytes, 9), prev: bytes.slice(17, 49), commitment: bytes.slice(49, 81),
      kind: String.fromCharCode(...kindBytes),
    };
  }

  // ---- proofs (RFC 9162 §2.1.3.2, §2.1.4.2) --------------------------------
  async function verifyInclusion(index, size, leaf, proof, root) {
    if (index >= size) throw new Refusal(`leaf index ${index} is not below tree size ${size}`);
    // The proof's length is fixed by index and size: refuse a wrong one before hashing.
    let fn = index, sn = size - 1n, expected = 0;
    while (sn !== 0n) {
      if ((fn & 1n) === 1n || fn === sn) { if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; } }
      fn >>= 1n; sn >>= 1n; expected++;
    }
    if (proof.length > expected) throw new Refusal(`inclusion proof for leaf ${index} in tree ${size} is too long`);
    if (proof.length < expected) throw new Refusal(`inclusion proof for leaf ${index} in tree ${size} is too short`);
    fn = index; sn = size - 1n;
    let r = leaf;
    for (const p of proof) {
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (!equal(r, root)) {
      throw new Refusal(`inclusion proof for leaf ${index} leads to ${base64Encode(r)}, not to the root ${base64Encode(root)} of tree ${size}`);
    }
  }

  async function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
    if (first > second) throw new Refusal(`first size ${first} is larger than second size ${second}`);
    if (first === second) {
      if (proof.length !== 0) throw new Refusal('consistency proof between equal sizes must be empty');
      if (!equal(firstRoot, secondRoot)) throw new Refusal(`two different roots for the same tree size ${first}`);
      return;
    }
    if (first === 0n) {
      if (proof.length !== 0) throw new Refusal('consistency proof from the empty tree must be empty');
      if (!equal(firstRoot, EMPTY_ROOT)) throw new Refusal(`the root of the empty tree is not ${base64Encode(firstRoot)}`);
      return;
    }
    if (proof.length === 0) throw new Refusal(`consistency proof from ${first} to ${second} is empty`);
    // A power-of-two first tree is itself a node of the second one.
    const path = (first & (first - 1n)) === 0n ? [firstRoot, ...proof] : proof.slice();
    let fn = first - 1n, sn = second - 1n;
    while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
    let fr = path[0], sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0n) throw new Refusal(`consistency proof from ${first} to ${second} is too long`);
      if ((fn & 1n) === 1n || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) throw new Refusal(`consistency proof from ${first} to ${second} is too short`);
    if (!equal(fr, firstRoot)) throw new Refusal(`consistency proof does not lead to the root of tree ${first}`);
    if (!equal(sr, secondRoot)) throw new Refusal(`consistency proof does not lead to the root of tree ${second}`);
  }

  // ---- the bundle (Schemas/bundle.schema.json) -----------------------------
  const BUNDLE_MEMBERS = ['format', 'verifier_key', 'checkpoint', 'created_at', 'query', 'events', 'earlier_checkpoints', 'timestamps'];
  const EVENT_MEMBERS = ['index', 'event_id', 'kind', 'body', 'salt', 'entry', 'leaf_hash', 'inclusion_proof', 'appended_by', 'erased'];
  const ERASED_MEMBERS = ['erased_at', 'legal_reference', 'erasure_entry_index'];
  // EvidenceBundle(parsing:): the same refusals, in the same order.
  function parseBundle(bytes) {
    let value;
    try {
      const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
      value = parseJSON(text);
    } catch (error) {
      throw new Refusal(`the bundle is not valid JSON: ${error && error.message ? error.message : error}`);
    }
    if (!isObject(value)) throw new Refusal('the bundle is not a JSON object');
    const format = member(value, 'format');
    if (format !== FORMAT_V2 && format !== FORMAT_V1) throw new Refusal(`the bundle's format is neither ${FORMAT_V2} nor ${FORMAT_V1}`);
    const v2 = format === FORMAT_V2;
    // v2 is strict: a member this page does not know could carry a meaning it would silently ignore.
    const refuseUnknown = (object, known, path) => {
      const unknown = Object.keys(object).sort().find((key) => !known.includes(key));
      if (unknown !== undefined) throw new Refusal(`${path} has the unknown field "${[...unknown].slice(0, 40).join('')}"`);
    };
    if (v2) refuseUnknown(value, BUNDLE_MEMBERS, 'the bundle');
    const string = (object, key, path) => {
      const text = stringValue(member(object, key));
      if (text === undefined) throw new Refusal(`${path}/${key} is missing or not a string`);
      return text;
    };
    const hashes = (items, path) => {
      if (!Array.isArray(items)) throw new Refusal(`${path} is missing or not an array`);
      return items.map((item, position) => {
        const hash = hashFrom(item);
        if (!hash) throw new Refusal(`${path}/${position} is not a base64 SHA-256 hash`);
        return hash;
      });
    };
    const bytesAt = (item, path) => {
      const decoded = base64Decode(item);
      if (!decoded) throw new Refusal(`${path} is not base64`);
      return decoded;
    };
    const index = (item, path) => {
      if (typeof item !== 'number' || !Number.isInteger(item) || Math.abs(item) > Number.MAX_SAFE_INTEGER || item < 0) {
        throw new Refusal(`${path} is not a non-negative integer`);
      }
      return BigInt(item);
    };
    // EvidenceBundle.parseEvent: a bundled event, or the erasure.executed record inside an `erased` claim.
    const parseEvent = (event, path, isRecord) => {
      if (!isObject(event)) throw new Refusal(`${path} is not an object`);
      if (v2) {
        refuseUnknown(event, isRecord ? EVENT_MEMBERS.filter((key) => key !== 'erased') : EVENT_MEMBERS, path);
        // Present even when null: a removed member is a changed file, not an erased body.
        const present = member(event, 'body');
        if (present === undefined) throw new Refusal(`${path}/body is missing`);
        if (present !== null && !isObject(present)) throw new Refusal(`${path}/body is not an object or null`);
        if (member(event, 'salt') === undefined) throw new Refusal(`${path}/salt is missing`);
      }
      const body = member(event, 'body');
      const saltValue = member(event, 'salt');
      const salt = saltValue === undefined || saltValue === null ? null : bytesAt(saltValue, `${path}/salt`);
      const leaf = hashFrom(member(event, 'leaf_hash'));
      if (!leaf) throw new Refusal(`${path}/leaf_hash is not a base64 SHA-256 hash`);
      const parsed = {
        index: index(member(event, 'index'), `${path}/index`), eventID: string(event, 'event_id', path), kind: string(event, 'kind', path),
        body: body === undefined || body === null ? null : body, salt, entry: bytesAt(member(event, 'entry'), `${path}/entry`),
        leafHash: leaf, inclusionProof: hashes(member(event, 'inclusion_proof'), `${path}/inclusion_proof`),
        appendedBy: null, erasure: null,
      };
      const appendedBy = member(event, 'appended_by');
      if (v2 && appendedBy !== undefined && appendedBy !== null) {
        if (typeof appendedBy !== 'string') throw new Refusal(`${path}/appended_by is not a string or null`);
        parsed.appendedBy = appendedBy;
      }
      const erased = member(event, 'erased');
      if (erased !== undefined) parsed.erasure = parseErasure(erased, `${path}/erased`);
      return parsed;
    };
    const parseErasure = (erased, path) => {
      if (!isObject(erased)) throw new Refusal(`${path} is not an object`);
      refuseUnknown(erased, v2 ? ERASED_MEMBERS.concat(['record']) : ERASED_MEMBERS, path);
      const erasure = {
        erasedAt: string(erased, 'erased_at', path), legalReference: string(erased, 'legal_reference', path),
        erasureEntryIndex: index(member(erased, 'erasure_entry_index'), `${path}/erasure_entry_index`), record: null,
      };
      // A missing record is the verifier's to report ("body withheld"), naming the event.
      const record = member(erased, 'record');
      if (record !== undefined) erasure.record = parseEvent(record, `${path}/record`, true);
      return erasure;
    };
    const bundle = {
      format, verifierKey: string(value, 'verifier_key', ''), checkpoint: string(value, 'checkpoint', ''),
      createdAt: string(value, 'created_at', ''), events: [], earlierCheckpoints: [],
    };
    const items = member(value, 'events');
    if (!Array.isArray(items)) throw new Refusal('/events is missing or not an array');
    items.forEach((event, position) => bundle.events.push(parseEvent(event, `/events/${position}`, false)));
    const earlier = member(value, 'earlier_checkpoints');
    if (v2 && !Array.isArray(earlier)) throw new Refusal('/earlier_checkpoints is missing or not an array');
    (Array.isArray(earlier) ? earlier : []).forEach((item, position) => {
      const path = `/earlier_checkpoints/${position}`;
      if (!isObject(item)) throw new Refusal(`${path} is not an object`);
      if (v2) refuseUnknown(item, ['checkpoint', 'consistency_proof'], path);
      bundle.earlierCheckpoints.push({
        note: string(item, 'checkpoint', path), consistencyProof: hashes(member(item, 'consistency_proof'), `${path}/consistency_proof`),
      });
    });
    // RFC 3161 tokens need a CMS/X.509 verifier this page does not have: counted, and reported as not checked.
    const timestamps = member(value, 'timestamps');
    bundle.timestampCount = Array.isArray(timestamps) ? timestamps.length : 0;
    return bundle;
  }

  const KIND_PHRASES = {
    'generation.requested': 'a generation request', 'generation.completed': 'a completed generation',
    'edit.requested': 'an edit request', 'edit.completed': 'a completed edit',
    'subscription.started': 'a subscription start', 'subscription.renewed': 'a subscription renewal',
    'subscription.changed': 'a subscription change', 'subscription.cancelled': 'a subscription cancellation',
    'subscription.payment_failed': 'a failed subscription payment', 'report.received': 'a report',
    'moderation.decision': 'a moderation decision', 'takedown.executed': 'a takedown', 'legal.request': 'a legal request',
    'erasure.executed': 'an erasure', 'access.granted': "an investigator's access",
  };

  // BundleVerifier.describe: one sentence a lawyer can read.
  function describe(event, entry, origin, format, finding) {
    const phrase = Object.prototype.hasOwnProperty.call(KIND_PHRASES, entry.kind) ? KIND_PHRASES[entry.kind] : `an event of kind ${entry.kind}`;
    let sentence = `Event ${event.eventID} — ${phrase}`;
    const body = event.body;
    if (body !== null) {
      const list = (v) => (Array.isArray(v) ? v : []);
      const images = list(member(body, 'input_images')).concat(list(member(body, 'content_hashes')));
      const image = images.length > 0 ? stringValue(member(images[0], 'sha256')) : undefined;
      if (image !== undefined) sentence += ` on image sha256:${image}`;
      const tier = stringValue(member(body, 'subscription_tier')) ?? stringValue(member(body, 'tier'));
      if (tier !== undefined) sentence += ` under the ${tier} tier`;
      const account = stringValue(member(body, 'account'));
      if (account !== undefined) sentence += ` by account ${account}`;
      const outcome = stringValue(member(member(body, 'decision'), 'outcome'));
      if (outcome !== undefined) sentence += `, decided ${outcome}`;
      const occurred = stringValue(member(body, 'occurred_at'));
      if (occurred !== undefined) sentence += `, made at ${occurred}`;
    } else if (event.erasure !== null) {
      const reference = event.erasure.legalReference;
      if (finding === 'proven') {
        sentence += ` (its content was erased under the legal order "${reference}", which the ledger recorded as entry ${grouped(event.erasure.erasureEntryIndex)}; only its existence can be shown)`;
      } else if (finding === 'unproven' && format === FORMAT_V1) {
        sentence += ` (the bundle claims an erasure under "${reference}" but a greffe-bundle/v1 bundle carries no proof of it: unproven; only the event's existence can be shown)`;
      } else {
        sentence += ` (its content is withheld: the bundle claims an erasure under "${reference}" that it does not prove)`;
      }
    } else {
      sentence += ' (its content is withheld; no erasure is claimed)';
    }
    sentence += `, was recorded as entry ${grouped(entry.index)} of the ledger ${origin} at ${formatTime(entry.sequencedAt)}`;
    if (event.appendedBy !== null) sentence += ` (appended with the token "${event.appendedBy}", as the server states; no proof covers this name)`;
    return sentence;
  }

  // BundleVerifier.checkErasure: a null body is accepted only with the
  // erasure.executed record Greffe appends before deleting anything, proved
  // in the checkpoint's tree. Returns {withheld: message} | {unproven: true} |
  // {claim} (proven once the record's inclusion claim holds).
  async function checkErasure(event, format, treeSize) {
    const withheld = (message) => ({ withheld: message });
    if (format === FORMAT_V2 && event.salt !== null) return withheld('the body is null but a salt is given');
    const erasure = event.erasure;
    if (erasure === null) return withheld('the body is null and no erasure is claimed for it');
    if (format === FORMAT_V1) return { unproven: true };
    const reference = `"${erasure.legalReference}"`;
    const record = erasure.record;
    if (record === null) return withheld(`the bundle claims an erasure under ${reference} but carries no erasure record to prove it`);
    let entry;
    try {
      entry = decodeEntry(record.entry);
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      return withheld(`the erasure record's entry is not a valid entry: ${error.message}`);
    }
    const leaf = await leafHash(record.entry);
    if (!equal(leaf, record.leafHash)) {
      return withheld(`the erasure record's entry hashes to leaf ${base64Encode(leaf)}, not to the stated ${base64Encode(record.leafHash)}`);
    }
    if (entry.index !== record.index) return withheld(`the erasure record's entry says index ${entry.index}, the record says ${record.index}`);
    if (record.index !== erasure.erasureEntryIndex) {
      return withheld(`the erasure record is entry ${record.index}, not entry ${erasure.erasureEntryIndex} as the claim states`);
    }
    if (entry.kind !== 'erasure.executed') return withheld(`the erasure record's entry is of kind ${entry.kind}, not erasure.executed`);
    if (record.kind !== entry.kind) return withheld(`the erasure record says kind ${record.kind}, its entry records ${entry.kind}`);
    const body = record.body;
    if (body === null || record.salt === null) return withheld('the erasure record carries no body and salt, so what it orders cannot be checked');
    if (!equal(await sha256(record.salt, utf8.encode(canonical(body))), entry.commitment)) {
      return withheld("the erasure record's body and salt do not match its entry's commitment: the record was changed");
    }
    if (stringValue(member(body, 'kind')) !== 'erasure.executed') return withheld("the erasure record's body is not of kind erasure.executed");
    if (stringValue(member(body, 'event_id')) !== record.eventID) return withheld(`the erasure record's body's event_id is not ${record.eventID}`);
    if (stringValue(member(body, 'platform')) !== 'greffe') return withheld('the erasure record was not written by Greffe (its platform is not "greffe")');
    const target = member(body, 'target_index');
    if (typeof target !== 'number' || !Number.isSafeInteger(target) || target < 0) return withheld('the erasure record names no target_index');
    if (BigInt(target) !== event.index) return withheld(`the erasure record erased entry ${target}, not this one (${event.index})`);
    const ordered = stringValue(member(body, 'legal_reference'));
    if (ordered === undefined) return withheld('the erasure record names no legal_reference');
    if (ordered !== erasure.legalReference) return withheld(`the erasure record's legal reference is "${ordered}", not ${reference} as the claim states`);
    if (record.index <= event.index) return withheld(`the erasure record (entry ${record.index}) is not later than the erased event`);
    if (record.index >= treeSize) {
      return withheld(`the erasure record is entry ${record.index}, beyond the checkpoint's ${treeSize} entries: the checkpoint does not cover it`);
    }
    return { claim: { index: record.index, leaf, proof: record.inclusionProof } };
  }

  // BundleVerifier.verify: the report, part by part.
  async function verify(bundle, key) {
    const report = {
      origin: null, checkpointSize: null, checkpointRoot: null, keyName: key.verifierKey, events: [],
      prevLinksChecked: 0, earlierCheckpointsChecked: 0, failures: [], notes: [],
    };
    const fail = (code, location, message) => report.failures.push({ code, location, message });
    if (bundle.verifierKey !== key.verifierKey) {
      report.notes.push(`the bundle names the key ${bundle.verifierKey}; it was checked against the key you gave, ${key.verifierKey}`);
    }
    if (bundle.timestampCount > 0) {
      report.notes.push(`the bundle carries ${bundle.timestampCount} RFC 3161 timestamp token(s); this page does NOT check them, so no time is attested here: run greffe verify with --tsa-cert`);
    }
    // 1. The signed checkpoint: the only thing trusted is the given key.
    let checkpoint;
    try {
      checkpoint = await verifyCheckpoint(bundle.checkpoint, key);
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      fail('signature', 'checkpoint', error.message);
      return report;
    }
    report.origin = checkpoint.origin;
    report.checkpointSize = checkpoint.size;
    report.checkpointRoot = checkpoint.root;

    // 2. Each event: entry layout, commitment, the proof of a null body's erasure;
    //    proofs after all of them (as the batch verifier), erasure records' with the events'.
    const seen = new Map(), claims = [], leafByIndex = new Map(), entryByIndex = new Map(), described = [];
    for (const [position, event] of bundle.events.entries()) {
      const location = `event ${position} (index ${event.index})`;
      const failuresBefore = report.failures.length;
      if (seen.has(event.index)) fail('duplicateEvent', location, `index ${event.index} appears twice (also event ${seen.get(event.index)})`);
      seen.set(event.index, position);
      let entry;
      try {
        entry = decodeEntry(event.entry);
      } catch (error) {
        fail('entryFormat', location, `the entry is not a valid entry: ${error.message}`);
        report.events.push({
          index: event.index, eventID: event.eventID, sentence: '', verified: false, bodyErased: event.body === null,
          erasure: null, erasureLegalReference: null, erasureEntryIndex: null, appendedBy: null,
        });
        continue;
      }
      if (entry.index !== event.index) fail('entryIndex', location, `the entry says index ${entry.index}, the bundle says ${event.index}`);
      const leaf = await leafHash(event.entry);
      if (!equal(leaf, event.leafHash)) {
        fail('leafHash', location, `the entry hashes to leaf ${base64Encode(leaf)}, not to the stated ${base64Encode(event.leafHash)}`);
      }
      if (entry.kind !== event.kind) fail('eventMismatch', location, `the entry records kind ${entry.kind}, the bundle says ${event.kind}`);
      const line = {
        index: event.index, eventID: event.eventID, sentence: '', verified: false, bodyErased: event.body === null,
        erasure: null, erasureLegalReference: null, erasureEntryIndex: null, appendedBy: event.appendedBy,
      };
      if (event.body !== null) {
        if (event.salt !== null) {
          const commitment = await sha256(event.salt, utf8.encode(canonical(event.body)));
          if (!equal(commitment, entry.commitment)) {
            fail('commitment', location, "the body and salt do not match the entry's commitment: the body or the salt was changed");
          }
        } else {
          fail('commitment', location, 'the body has no salt, so it cannot be checked against the entry');
        }
        if (stringValue(member(event.body, 'event_id')) !== event.eventID) fail('eventMismatch', location, `the body's event_id is not ${event.eventID}`);
        if (stringValue(member(event.body, 'kind')) !== entry.kind) fail('eventMismatch', location, `the body's kind is not the entry's kind ${entry.kind}`);
        const occurred = stringValue(member(event.body, 'occurred_at'));
        if (occurred !== undefined) {
          const occurredAt = parseTime(occurred);
          if (occurredAt === null) {
            fail('time', location, `occurred_at ${occurred} is not an RFC 3339 time`);
          } else if (occurredAt > entry.sequencedAt + CLOCK_SKEW_MS) {
            fail('time', location, `the event claims to have happened at ${occurred}, after Greffe recorded it at ${formatTime(entry.sequencedAt)}`);
          }
        }
        if (event.erasure !== null) {
          fail('erasureClaim', location, `the body is shown, yet the bundle claims it was erased under "${event.erasure.legalReference}": one of the two is false`);
        }
      } else {
        if (event.erasure !== null) {
          line.erasureLegalReference = event.erasure.legalReference;
          line.erasureEntryIndex = event.erasure.erasureEntryIndex;
        }
        const outcome = await checkErasure(event, bundle.format, checkpoint.size);
        if (outcome.withheld !== undefined) {
          fail('bodyWithheld', location, `body withheld: ${outcome.withheld}`);
          if (event.erasure !== null) line.erasure = 'unproven';
        } else if (outcome.unproven) {
          line.erasure = 'unproven';
        } else {
          line.erasure = 'proven';
          claims.push({ ...outcome.claim, location, line: report.events.length, isErasureRecord: true });
        }
      }
      claims.push({ index: event.index, leaf, proof: event.inclusionProof, location, line: report.events.length, isErasureRecord: false });
      leafByIndex.set(event.index, leaf);
      entryByIndex.set(event.index, entry);
      line.verified = report.failures.length === failuresBefore;
      described.push({ line: report.events.length, event, entry });
      report.events.push(line);
    }
    for (const claim of claims) {
      try {
        await verifyInclusion(claim.index, checkpoint.size, claim.leaf, claim.proof, checkpoint.root);
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        if (claim.isErasureRecord) {
          fail('bodyWithheld', claim.location, `body withheld: the erasure record's inclusion proof does not hold: ${error.message}`);
          report.events[claim.line].erasure = 'unproven';
        } else {
          fail('inclusionProof', claim.location, `the inclusion proof does not hold: ${error.message}`);
        }
        report.events[claim.line].verified = false;
      }
    }
    for (const { line, event, entry } of described) {
      report.events[line].sentence = describe(event, entry, checkpoint.origin, bundle.format, report.events[line].erasure);
    }

    // 3. The hash chain between adjacent bundled entries.
    const indices = [...entryByIndex.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const index of indices) {
      if (index === 0n || !entryByIndex.has(index - 1n)) continue;
      const entry = entryByIndex.get(index), previous = entryByIndex.get(index - 1n);
      report.prevLinksChecked += 1;
      if (!equal(entry.prev, leafByIndex.get(index - 1n))) {
        fail('prevLink', `event at index ${index}`, `its prev link is not the leaf hash of entry ${index - 1n}`);
      }
      if (entry.sequencedAt < previous.sequencedAt) fail('time', `event at index ${index}`, `it was sequenced before entry ${index - 1n}`);
    }

    // 4. Earlier checkpoints: the log only grew from them to this one.
    for (const [position, earlier] of bundle.earlierCheckpoints.entries()) {
      const location = `earlier checkpoint ${position}`;
      let old;
      try {
        old = await verifyCheckpoint(earlier.note, key);
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        fail('earlierCheckpoint', location, error.message);
        continue;
      }
      try {
        await verifyConsistency(old.size, checkpoint.size, old.root, checkpoint.root, earlier.consistencyProof);
        report.earlierCheckpointsChecked += 1;
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        fail('consistencyProof', location, `the consistency proof to the bundle's checkpoint does not hold: ${error.message}`);
      }
    }
    report.verified = report.failures.length === 0;
    return report;
  }

  // BundleReport.unprovenErasures and BundleReportRendering.unprovenSentence.
  function unprovenErasures(report) { return report.events.filter((e) => e.verified && e.erasure === 'unproven').length; }
  function unprovenSentence(count) {
    return `UNPROVEN ERASURE: ${count} event(s) have no content, and this greffe-bundle/v1 bundle carries no proof that a legal order erased it.`;
  }

  // BundleReportRendering.text, line for line.
  function reportText(report, file) {
    const lines = [`Verification of ${file}`, `Checked against the verifier key ${report.keyName}`, ''];
    if (report.origin !== null) {
      lines.push(`The ledger ${report.origin} signed its state of ${grouped(report.checkpointSize)} entries (root ${base64Encode(report.checkpointRoot)}); the signature holds.`);
    }
    for (const event of report.events) {
      lines.push('');
      lines.push(`${event.sentence}; the ledger's signed state includes it: ${event.verified ? 'VERIFIED' : 'NOT VERIFIED'}`);
    }
    if (report.prevLinksChecked > 0) {
      lines.push('');
      lines.push(`Hash-chain links between adjacent entries checked: ${report.prevLinksChecked}.`);
    }
    if (report.earlierCheckpointsChecked > 0) lines.push(`Earlier signed states shown to be prefixes of this one: ${report.earlierCheckpointsChecked}.`);
    for (const note of report.notes) lines.push(`Note: ${note}`);
    lines.push('');
    if (report.failures.length === 0) {
      lines.push('RESULT: VERIFIED — every signature, commitment, inclusion proof and link in this bundle holds.');
      const unproven = unprovenErasures(report);
      if (unproven > 0) lines.push(unprovenSentence(unproven));
    } else {
      lines.push(`RESULT: NOT VERIFIED — ${report.failures.length} problem(s):`);
      for (const f of report.failures) lines.push(`  - ${f.location} [${f.code}]: ${f.message}`);
    }
    return lines.join('\n');
  }

  // The whole check of one file: never throws for bad input, only reports.
  // Returns {status: 'verified' | 'failed' | 'unreadable' | 'key', ...}.
  async function check(bytes, verifierKeyText, file) {
    if (!subtle) return { status: 'key', message: 'this browser has no WebCrypto; open the page in a current browser or use `greffe verify`' };
    let key;
    try {
      key = await parseVerifierKey(verifierKeyText);
    } catch (error) {
      return { status: 'key', message: `verifier key: ${error instanceof Refusal ? error.message : String(error)}` };
    }
    let bundle;
    try {
      bundle = parseBundle(bytes);
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      return { status: 'unreadable', message: `NOT VERIFIED: ${file} is not a readable evidence bundle: ${error.message}` };
    }
    const report = await verify(bundle, key);
    return { status: report.verified ? 'verified' : 'failed', report, text: reportText(report, file) };
  }

  return { check, parseVerifierKey, parseBundle, verify, reportText, canonical, unprovenErasures, unprovenSentence, Refusal };
})();
if (typeof module !== 'undefined') module.exports = GreffeVerifier;
