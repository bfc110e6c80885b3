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
  const FORMAT_V1 = 'greffe-bundle/v1', FORMAT_V2 = 'greffe-bundle/v2', FORMAT_V3 = 'greffe-bundle/v3';
  const FORMAT_REFUSAL = `the bundle's format is none of ${FORMAT_V3}, ${FORMAT_V2}, ${FORMAT_V1}`;
  const CLOCK_SKEW_MS = 5n * 60n * 1000n;
  const MAX_NOTE_BYTES = 1000000;
  const MAX_IN_MEMORY = 512 * 1024 * 1024;
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
  function parseJSON(text, maxDepth = MAX_DEPTH) {
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
        if (depth >= maxDepth) fail(`nesting deeper than ${maxDepth} levels`);
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
    // publicKey kept: a shard's key is this key renamed (Schemas/shards.md, "Origins and keys").
    return { name, keyID: id, cryptoKey, publicKey, verifierKey: `${name}+${hex8(id)}+${base64Encode(raw)}` };
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

  // CheckpointVerifier.verify(note:verifiers:) with several keys of one log: signatures by keys not given are
  // ignored; at least one given key must have signed; every line by a given key (name and key ID) must verify;
  // each key that verified must be named after the origin. One key: verifyCheckpoint, its words.
  async function verifyCheckpointKeys(noteText, keys) {
    if (keys.length === 1) return verifyCheckpoint(noteText, keys[0]);
    let note, checkpoint;
    try { note = parseNote(noteText); } catch (e) { throw new Refusal(`checkpoint note: ${e.message}`); }
    try { checkpoint = parseCheckpoint(note.text); } catch (e) { throw new Refusal(`checkpoint: ${e.message}`); }
    const message = utf8.encode(note.text);
    const verified = [], failed = [];
    for (const key of keys) {
      const mine = note.signatures.filter((s) => s.keyID === key.keyID && s.name === key.name);
      if (mine.length === 0) continue;
      let valid = true;
      for (const s of mine) {
        let ok = false;
        try { ok = await subtle.verify({ name: 'Ed25519' }, key.cryptoKey, s.signature, message); } catch (e) { ok = false; }
        if (!ok) valid = false;
      }
      (valid ? verified : failed).push(key);
    }
    const keyName = (key) => `${key.name}+${hex8(key.keyID)}`;
    if (verified.length === 0) {
      throw new Refusal(`checkpoint of size ${checkpoint.size} carries no valid signature by any of the given keys (${keys.map(keyName).join(', ')})`);
    }
    if (failed.length > 0) throw new Refusal(`checkpoint of size ${checkpoint.size} carries an invalid signature by ${keyName(failed[0])}: the note was altered or forged`);
    const stranger = verified.find((key) => key.name !== checkpoint.origin);
    if (stranger) throw new Refusal(`checkpoint origin "${checkpoint.origin}" is not the key's name "${stranger.name}"`);
    return checkpoint;
  }

  // Shards.number(origin:base:): the shard of the ledger named `base` whose origin is `origin` (0 for `base`
  // itself, k for `base/k`, k ≥ 1 in decimal without leading zeros, at most Int64's largest: a number, or past
  // 2^53 its digits); null for another log.
  function shardNumber(origin, base) {
    if (origin === base) return 0;
    if (!origin.startsWith(base + '/')) return null;
    const digits = origin.slice(base.length + 1);
    if (!/^[1-9][0-9]*$/.test(digits) || BigInt(digits) > 0x7fffffffffffffffn) return null;
    return Number(digits) <= Number.MAX_SAFE_INTEGER ? Number(digits) : digits;
  }

  // ---- entries (Schemas/entry.md, layouts 1 and 2) -------------------------
  function decodeEntry(bytes) {
    if (bytes.length === 0) throw new Refusal('entry is empty');
    if (bytes[0] !== 1 && bytes[0] !== 2) throw new Refusal(`entry layout version ${bytes[0]} is unknown (expected 1 or 2)`);
    if (bytes.length <= 82) throw new Refusal(`entry of ${bytes.length} bytes is shorter than the 83 bytes of layout ${bytes[0]}`);
    const kindLength = bytes[81];
    if (bytes.length !== 82 + kindLength) throw new Refusal(`entry is ${bytes.length} bytes but its kind length says ${82 + kindLength}`);
    const kindBytes = bytes.slice(82);
    const validKind = kindBytes.length <= 64 &&
      kindBytes.every((c) => (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x5f || c === 0x2d);
    if (!validKind) throw new Refusal('entry kind is not a valid kind name');
    return {
      layout: bytes[0], index: readU64(bytes, 1), sequencedAt: readU64(bytes, 9), prev: bytes.slice(17, 49), commitment: bytes.slice(49, 81),
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
  // The readers of EvidenceBundle(parsing:), for one format: v2 and v3 are
  // strict (`v2` below means "v2 or v3"), v1 lenient.
  function bundleReaders(format) {
    const v2 = format !== FORMAT_V1;
    // v2 is strict: a member this page does not know could carry a meaning it would silently ignore.
    const refuseUnknown = (object, known, path) => {
      const unknown = Object.keys(object).sort().find((key) => !known.includes(key));
      if (unknown !== undefined) throw new Refusal(`${path} has the unknown field "${[...unknown].slice(0, 40).join('')}"`);
    };
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
      // `shard` (v3 only): the shard whose record (a retention or an erasure order) dropped the body (Schemas/shards.md,
      // "Proving a body dropped after its shard was sealed").
      refuseUnknown(erased, v2 ? ERASED_MEMBERS.concat(format === FORMAT_V3 ? ['record', 'shard'] : ['record']) : ERASED_MEMBERS, path);
      const erasure = {
        erasedAt: string(erased, 'erased_at', path), legalReference: string(erased, 'legal_reference', path),
        erasureEntryIndex: index(member(erased, 'erasure_entry_index'), `${path}/erasure_entry_index`), record: null, shard: null,
      };
      if (member(erased, 'shard') !== undefined) erasure.shard = Number(index(member(erased, 'shard'), `${path}/shard`));
      // A missing record is the verifier's to report ("body withheld"), naming the event.
      const record = member(erased, 'record');
      if (record !== undefined) erasure.record = parseEvent(record, `${path}/record`, true);
      return erasure;
    };
    return { refuseUnknown, string, hashes, bytesAt, index, parseEvent, parseErasure };
  }

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
    if (format !== FORMAT_V2 && format !== FORMAT_V1) throw new Refusal(FORMAT_REFUSAL);
    const v2 = format === FORMAT_V2;
    const { refuseUnknown, string, hashes, parseEvent } = bundleReaders(format);
    if (v2) refuseUnknown(value, BUNDLE_MEMBERS, 'the bundle');
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
    'hold.placed': 'a legal hold', 'hold.lifted': 'the lifting of a legal hold',
    'ledger.restored': "the ledger's record of a restore whose lost entries came back without their events",
    'retention.applied': "the ledger's record of bodies dropped at the end of their retention period",
    'shard.opened': "the ledger's record opening a new shard, sealing the previous one's final checkpoint",
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
      // Only Greffe writes this kind (intake refuses it): the log's own statement of a gap.
      const lost = member(body, 'lost_bodies');
      const first = member(lost, 'first_index'), end = member(lost, 'end_index');
      if (entry.kind === 'ledger.restored' && Number.isSafeInteger(first) && Number.isSafeInteger(end) && first >= 0 && end > first) {
        sentence += ` (entries ${grouped(first)} to ${grouped(end - 1)} were put back from a copy of the log without their events, which are lost: events among them may have matched this bundle's query)`;
      }
    } else if (event.disclosed) {
      sentence += event.disclosed.length === 0
        ? ' (no field of its content is disclosed)'
        : ' (only these fields of its content are disclosed: ' + event.disclosed.map((f) => `${describePath(f.path)} = ${canonical(f.value)}`).join('; ') + ')';
    } else if (event.erasure !== null) {
      const reference = event.erasure.legalReference;
      if (finding === 'proven' && event.erasure.record && event.erasure.record.kind === 'retention.applied') {
        const where = event.erasure.shard === null || event.erasure.shard === undefined ? '' : ` of shard ${event.erasure.shard}`;
        sentence += ` (its content was dropped at the end of its retention period under "${reference}", which the ledger recorded as entry ${grouped(event.erasure.erasureEntryIndex)}${where}; only its existence can be shown)`;
      } else if (finding === 'proven') {
        const where = event.erasure.shard === null || event.erasure.shard === undefined ? '' : ` of shard ${event.erasure.shard}`;
        sentence += ` (its content was erased under the legal order "${reference}", which the ledger recorded as entry ${grouped(event.erasure.erasureEntryIndex)}${where}; only its existence can be shown)`;
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
  // LedgerEntry.greffeWrittenKinds: the kinds only Greffe writes, whose bodies a retention keeps.
  const OWN_KINDS = ['access.granted', 'erasure.executed', 'hold.placed', 'hold.lifted', 'ledger.restored', 'retention.applied', 'shard.opened'];

  // checkErasure's checks of what the record says about this event: an order naming it
  // (erasure.executed), or a retention period that ran out over a range holding it
  // (retention.applied). { problem } or { ordered: the legal reference or basis it states }.
  // `claimedShard`: erased.shard, the shard the record is claimed in (null: the event's own log).
  function erasureRecordSays(body, kind, event, claimedShard = null) {
    if (kind === 'retention.applied') {
      const from = member(body, 'from_index');
      const to = member(body, 'to_index');
      if (typeof from !== 'number' || typeof to !== 'number' || !Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to < from) {
        return { problem: 'the retention record names no valid from_index and to_index' };
      }
      if (event.index < BigInt(from) || event.index >= BigInt(to)) {
        return { problem: `the retention record covers entries ${from} to ${to - 1}, not this one (${event.index})` };
      }
      const cutoffText = stringValue(member(body, 'recorded_before'));
      const cutoff = cutoffText === undefined ? null : parseTime(cutoffText);
      if (cutoff === null) return { problem: 'the retention record names no valid recorded_before' };
      let recorded;
      try {
        recorded = decodeEntry(event.entry);
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        return { problem: "the event's entry is not a valid entry" };
      }
      // What the record says it kept cannot be claimed dropped.
      if (OWN_KINDS.includes(recorded.kind)) return { problem: `the event is Greffe's own record (${recorded.kind}), which a retention keeps whole` };
      const kept = member(body, 'kept_under_hold');
      if (!Array.isArray(kept)) return { problem: 'the retention record names no kept_under_hold' };
      if (kept.some((index) => typeof index === 'number' && Number.isSafeInteger(index) && index >= 0 && BigInt(index) === event.index)) {
        return { problem: 'the retention record lists this event as kept under a legal hold: its body was not dropped' };
      }
      if (recorded.sequencedAt >= cutoff) {
        return { problem: `the event was recorded at ${formatTime(recorded.sequencedAt)}, not before the retention record's cut-off ${cutoffText}: its retention had not run out` };
      }
      const basis = stringValue(member(body, 'legal_basis'));
      if (basis === undefined) return { problem: 'the retention record names no legal_basis' };
      // A record naming a shard covers that shard's indices, never its own log's; one without, only its own
      // (Schemas/shards.md, "Retention across shards").
      const named = member(body, 'shard');
      if (claimedShard === null && named !== undefined) {
        return { problem: `the retention record names shard ${isIndex(named) ? named : '?'}: it covers another shard's entries, not this log's` };
      }
      return { ordered: basis };
    }
    const target = member(body, 'target_index');
    if (typeof target !== 'number' || !Number.isSafeInteger(target) || target < 0) return { problem: 'the erasure record names no target_index' };
    if (BigInt(target) !== event.index) return { problem: `the erasure record erased entry ${target}, not this one (${event.index})` };
    const ordered = stringValue(member(body, 'legal_reference'));
    if (ordered === undefined) return { problem: 'the erasure record names no legal_reference' };
    // An order naming a shard erased that shard's entry, never its own log's; one without, only its own
    // (Schemas/shards.md, "Erasure orders in a sealed shard").
    const named = member(body, 'shard');
    if (claimedShard === null && named !== undefined) {
      return { problem: `the erasure record names shard ${isIndex(named) ? named : '?'}: it erased another shard's entry, not this log's` };
    }
    return { ordered };
  }

  async function checkErasure(event, format, treeSize) {
    const withheld = (message) => ({ withheld: message });
    if (format !== FORMAT_V1 && event.salt !== null) return withheld('the body is null but a salt is given');
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
    if (entry.kind !== 'erasure.executed' && entry.kind !== 'retention.applied') {
      return withheld(`the erasure record's entry is of kind ${entry.kind}, not erasure.executed or retention.applied`);
    }
    if (record.kind !== entry.kind) return withheld(`the erasure record says kind ${record.kind}, its entry records ${entry.kind}`);
    const body = record.body;
    if (body === null || record.salt === null) return withheld('the erasure record carries no body and salt, so what it orders cannot be checked');
    if (!commitsTo(entry, record.salt, body)) {
      return withheld("the erasure record's body and salt do not match its entry's commitment: the record was changed");
    }
    if (stringValue(member(body, 'kind')) !== entry.kind) return withheld(`the erasure record's body is not of kind ${entry.kind}`);
    if (stringValue(member(body, 'event_id')) !== record.eventID) return withheld(`the erasure record's body's event_id is not ${record.eventID}`);
    if (stringValue(member(body, 'platform')) !== 'greffe') return withheld('the erasure record was not written by Greffe (its platform is not "greffe")');
    const says = erasureRecordSays(body, entry.kind, event);
    if (says.problem !== undefined) return withheld(says.problem);
    const ordered = says.ordered;
    if (ordered !== erasure.legalReference) return withheld(`the erasure record's legal reference is "${ordered}", not ${reference} as the claim states`);
    if (record.index <= event.index) return withheld(`the erasure record (entry ${record.index}) is not later than the erased event`);
    if (treeSize !== null && record.index >= treeSize) {
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
          if (!commitsTo(entry, event.salt, event.body)) {
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
    await checkEarlierCheckpoints(bundle.earlierCheckpoints, checkpoint, key, report, fail);
    report.verified = report.failures.length === 0;
    return report;
  }

  // ---- greffe-bundle/v3 (Schemas/bundle.md, v3), read as a stream --------
  // CompactBundleVerifier: the same checks, failures and words; events are
  // checked as they arrive and folded into the root with their gaps, so a
  // bundle of any size is read once, never whole. Leaf, node and commitment
  // hashes use sha256Sync (WebCrypto's digest is a promise per call: ten
  // times slower for 65-byte inputs, measured in node 20 and Chromium).

  // FIPS 180-4 SHA-256, synchronous. Checked against WebCrypto by the tests.
  const SHA_K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be,
    0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
    0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
    0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
    0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
    0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  const SHA_W = new Int32Array(64);
  function sha256Sync(...parts) {
    let total = 0;
    for (const p of parts) total += p.length;
    const padded = (total + 9 + 63) & ~63;
    const buf = new Uint8Array(padded);
    let o = 0;
    for (const p of parts) { buf.set(p, o); o += p.length; }
    buf[total] = 0x80;
    const bits = total * 8;
    buf[padded - 5] = Math.floor(bits / 0x100000000);
    buf[padded - 4] = bits >>> 24; buf[padded - 3] = bits >>> 16; buf[padded - 2] = bits >>> 8; buf[padded - 1] = bits;
    let h0 = 0x6a09e667, h1 = 0xbb67ae85 | 0, h2 = 0x3c6ef372, h3 = 0xa54ff53a | 0, h4 = 0x510e527f, h5 = 0x9b05688c | 0, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
    const W = SHA_W, K = SHA_K;
    for (let off = 0; off < padded; off += 64) {
      for (let i = 0; i < 16; i++) { const j = off + i * 4; W[i] = (buf[j] << 24) | (buf[j + 1] << 16) | (buf[j + 2] << 8) | buf[j + 3]; }
      for (let i = 16; i < 64; i++) {
        const x = W[i - 15], y = W[i - 2];
        const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
      }
      let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
      for (let i = 0; i < 64; i++) {
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0; h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
    }
    const out = new Uint8Array(32);
    const hs = [h0, h1, h2, h3, h4, h5, h6, h7];
    for (let i = 0; i < 8; i++) { out[4 * i] = hs[i] >>> 24; out[4 * i + 1] = hs[i] >>> 16; out[4 * i + 2] = hs[i] >>> 8; out[4 * i + 3] = hs[i]; }
    return out;
  }
  const ZERO = Uint8Array.of(0), ONE = Uint8Array.of(1);
  const leafHashSync = (entry) => sha256Sync(ZERO, entry);
  const nodeHashSync = (left, right) => sha256Sync(ONE, left, right);

  // ---- entry layout 2: the field tree (Schemas/entry.md) ------------------
  // FieldCommitment: every scalar, {} and [] of the body is a leaf
  // s_f ‖ P(path) ‖ JCS(value), s_f = HMAC-SHA-256(salt, label ‖ P(path)),
  // leaves in P(path) byte order, RFC 9162 tree; the root is the commitment.
  const FIELD_SALT_LABEL = utf8.encode('greffe/field-salt/v1\0');
  function hmacSha256Sync(key, ...parts) {
    const block = new Uint8Array(64);
    block.set(key.length > 64 ? sha256Sync(key) : key);
    const inner = block.map((b) => b ^ 0x36), outer = block.map((b) => b ^ 0x5c);
    return sha256Sync(outer, sha256Sync(inner, ...parts));
  }
  function uint32(n) { return Uint8Array.of(n >>> 24, n >>> 16, n >>> 8, n); }
  // P(path): per step 0x01 ‖ uint32 length ‖ UTF-8 name, or 0x02 ‖ uint32 position; then 0x00.
  function encodeFieldPath(path) {
    const parts = [];
    for (const step of path) {
      if (typeof step === 'string') { const name = utf8.encode(step); parts.push(Uint8Array.of(1), uint32(name.length), name); }
      else parts.push(Uint8Array.of(2), uint32(step));
    }
    parts.push(ZERO);
    return concat(parts);
  }
  function compareBytes(a, b) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  }
  function bodyFields(body) {
    const fields = [];
    (function walk(value, path) {
      if (Array.isArray(value) && value.length > 0) value.forEach((item, i) => walk(item, [...path, i]));
      else if (isObject(value) && Object.keys(value).length > 0) for (const key of Object.keys(value)) walk(value[key], [...path, key]);
      else fields.push({ path, value, encoded: encodeFieldPath(path) });
    })(body, []);
    return fields.sort((a, b) => compareBytes(a.encoded, b.encoded));
  }
  function fieldLeafHash(fieldSalt, encodedPath, value) { return leafHashSync(concat([fieldSalt, encodedPath, utf8.encode(canonical(value))])); }
  function merkleRootSync(leaves) {
    if (leaves.length === 1) return leaves[0];
    let k = 1;
    while (k * 2 < leaves.length) k *= 2;
    return nodeHashSync(merkleRootSync(leaves.slice(0, k)), merkleRootSync(leaves.slice(k)));
  }
  // SHA-256(0x02 ‖ uint32(n) ‖ MTH): the commitment binds the number of fields too.
  function fieldCommitment(treeHash, count) { return sha256Sync(Uint8Array.of(2), uint32(count), treeHash); }
  function fieldTreeRoot(salt, body) {
    const fields = bodyFields(body);
    const tree = merkleRootSync(fields.map((f) => fieldLeafHash(hmacSha256Sync(salt, FIELD_SALT_LABEL, f.encoded), f.encoded, f.value)));
    return fieldCommitment(tree, fields.length);
  }
  // ProofVerifier.rootFromInclusionProof for field trees (numbers suffice: at most 16,384 leaves).
  function inclusionRootSync(index, size, leaf, proof) {
    if (index >= size) throw new Refusal(`leaf index ${index} is not below tree size ${size}`);
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (sn === 0) throw new Refusal(`inclusion proof for leaf ${index} in tree ${size} is too long`);
      if ((fn & 1) === 1 || fn === sn) {
        r = nodeHashSync(p, r);
        if ((fn & 1) === 0) while ((fn & 1) === 0 && fn !== 0) { fn >>= 1; sn >>= 1; }
      } else {
        r = nodeHashSync(r, p);
      }
      fn >>= 1; sn >>= 1;
    }
    if (sn !== 0) throw new Refusal(`inclusion proof for leaf ${index} in tree ${size} is too short`);
    return r;
  }
  // LedgerEntry.commits(to:salt:): the entry's layout says what its commitment covers.
  function commitsTo(entry, salt, body) {
    if (!isObject(body)) return false;
    const commitment = entry.layout === 2 ? fieldTreeRoot(salt, body) : sha256Sync(salt, utf8.encode(canonical(body)));
    return equal(commitment, entry.commitment);
  }

  // SubtreeCover.cover(from:to:): the fewest aligned complete subtrees covering [from, to), left to right.
  function cover(from, to) {
    const out = [];
    let start = from;
    while (start < to) {
      let level = 0n;
      // Aligned at start (any size at 0) and fitting before `to`.
      while ((start & ((1n << (level + 1n)) - 1n)) === 0n && start + (1n << (level + 1n)) <= to) level += 1n;
      out.push({ level, position: start >> level });
      start += 1n << level;
    }
    return out;
  }

  // RootFold: siblings merged as they meet; root() is the right fold of the stack (RFC 9162 MTH(D[0:covered])).
  class RootFold {
    constructor() { this.stack = []; }
    push(level, position, hash) {
      let top = { level, position, hash };
      for (;;) {
        const last = this.stack[this.stack.length - 1];
        if (!last || last.level !== top.level || (last.position & 1n) !== 0n || last.position + 1n !== top.position) break;
        this.stack.pop();
        top = { level: top.level + 1n, position: last.position >> 1n, hash: nodeHashSync(last.hash, top.hash) };
      }
      this.stack.push(top);
    }
    root() {
      if (this.stack.length === 0) return EMPTY_ROOT;
      let root = this.stack[this.stack.length - 1].hash;
      for (let i = this.stack.length - 2; i >= 0; i--) root = nodeHashSync(this.stack[i].hash, root);
      return root;
    }
  }

  // Splits the bundle's bytes as they arrive: each top-level member's value
  // as one slice, except `events`, whose elements come one slice each. The
  // slices are parsed strictly (parseJSON) by the caller; this only tracks
  // strings, escapes and nesting, and the punctuation between members.
  // mode 'object': the whole file; 'array': the events array alone (a re-read).
  const WS = (c) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
  class BundleSplitter {
    constructor(mode) {
      this.state = mode === 'array' ? 'arrayOpen' : 'open';
      this.mode = mode;
      this.offset = 0;          // bytes consumed before the current chunk
      this.parts = [];          // the value being captured, across chunks
      this.depth = 0; this.inString = false; this.escape = false; this.scalar = false; this.capturing = false;
      this.name = null; this.inEvents = false; this.first = true; this.names = new Set();
    }
    fail(message, at) { throw new Refusal(`the bundle is not valid JSON: ${message} at byte ${at}`); }
    // Returns the items found in `chunk`, in order: {member, bytes} | {eventsStart, at} | {event, bytes} | {eventsEnd, at}.
    feed(chunk) {
      const out = [];
      let i = 0;
      const n = chunk.length;
      const finishValue = (end) => {
        this.parts.push(chunk.subarray(this.start, end));
        const bytes = this.parts.length === 1 ? this.parts[0] : concat(this.parts);
        this.parts = []; this.capturing = false;
        if (this.inEvents) {
          out.push({ event: true, bytes });
          this.state = 'afterElement';
        } else if (this.state === 'name') {
          let name;
          try { name = parseJSON(utf8Decode(bytes)); } catch (error) { this.fail('a member name is not a string', this.offset + end); }
          if (this.names.has(name)) throw new Refusal(`the bundle is not valid JSON: the member "${[...name].slice(0, 40).join('')}" appears twice`);
          this.names.add(name);
          this.name = name;
          this.state = 'colon';
        } else {
          out.push({ member: this.name, bytes });
          this.state = 'afterMember';
        }
      };
      while (i < n) {
        if (this.capturing) {
          // Inside a value: strings, escapes and nesting.
          if (this.scalar) {
            for (; i < n; i++) {
              const c = chunk[i];
              if (c === 0x2c || c === 0x7d || c === 0x5d || WS(c)) break;
            }
            if (i === n) break;
            finishValue(i);
            continue;
          }
          for (; i < n; i++) {
            const c = chunk[i];
            if (this.inString) {
              if (this.escape) this.escape = false;
              else if (c === 0x5c) this.escape = true;
              else if (c === 0x22) { this.inString = false; if (this.depth === 0) { i++; break; } }
            } else if (c === 0x22) this.inString = true;
            else if (c === 0x7b || c === 0x5b) this.depth++;
            else if (c === 0x7d || c === 0x5d) { this.depth--; if (this.depth === 0) { i++; break; } }
          }
          if (this.inString || this.depth > 0) break;
          finishValue(i);
          continue;
        }
        const c = chunk[i];
        if (WS(c)) { i++; continue; }
        const at = this.offset + i;
        const begin = () => {
          this.capturing = true; this.start = i; this.parts = [];
          this.inString = c === 0x22; this.escape = false;
          this.depth = c === 0x7b || c === 0x5b ? 1 : 0;
          this.scalar = !this.inString && this.depth === 0;
          i++;
        };
        switch (this.state) {
          case 'open':
            if (c !== 0x7b) this.fail('the bundle is not a JSON object', at);
            this.state = 'firstName'; i++; break;
          case 'firstName':
            if (c === 0x7d) { this.state = 'end'; i++; break; }
          // falls through
          case 'nextName':
            if (c !== 0x22) this.fail('expected a member name', at);
            this.state = 'name'; begin(); break;
          case 'colon':
            if (c !== 0x3a) this.fail("expected ':' after a member name", at);
            this.state = 'value'; i++; break;
          case 'value':
            if (this.name === 'events' && c === 0x5b) {
              out.push({ eventsStart: true, at });
              this.inEvents = true; this.state = 'firstElement'; i++; break;
            }
            if (this.name === 'events') out.push({ eventsNotArray: true });
            begin(); break;
          case 'arrayOpen':
            if (c !== 0x5b) this.fail('/events is not an array', at);
            out.push({ eventsStart: true, at });
            this.inEvents = true; this.state = 'firstElement'; i++; break;
          case 'firstElement':
            if (c === 0x5d) { i++; this.closeEvents(out, at); break; }
          // falls through
          case 'element':
            if (c === 0x2c || c === 0x5d || c === 0x7d || c === 0x3a) this.fail('expected an event', at);
            begin(); break;
          case 'afterElement':
            if (c === 0x2c) { this.state = 'element'; i++; break; }
            if (c === 0x5d) { i++; this.closeEvents(out, at); break; }
            this.fail("expected ',' or ']' after an event", at);
            break;
          case 'afterMember':
            if (c === 0x2c) { this.state = 'nextName'; i++; break; }
            if (c === 0x7d) { this.state = 'end'; i++; break; }
            this.fail("expected ',' or '}' after a member", at);
            break;
          default:
            this.fail('data follows the bundle', at);
        }
      }
      // A value still open at the end of the chunk: keep what it has so far.
      if (this.capturing) { this.parts.push(chunk.subarray(this.start, n)); this.start = 0; }
      this.offset += n;
      return out;
    }
    closeEvents(out, at) {
      out.push({ eventsEnd: true, at: at + 1 });
      this.inEvents = false;
      this.state = this.mode === 'array' ? 'end' : 'afterMember';
    }
    // At the end of the bytes: the bundle must be complete.
    finish() {
      if (this.state !== 'end') throw new Refusal('the bundle is not valid JSON: the file ends in the middle of the bundle');
    }
  }
  function utf8Decode(bytes) { return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes); }

  // Reads a Blob (a File) as a stream of Uint8Array chunks, `start` to `end`.
  // A read that is already buffered resolves as a microtask, which would let
  // a long check hold the thread: every 40 ms it waits for a task instead, so
  // a page running the check itself still paints and answers.
  async function* chunksOf(blob, start, end) {
    const part = start === undefined ? blob : blob.slice(start, end);
    if (typeof part.stream === 'function') {
      const reader = part.stream().getReader();
      let since = Date.now();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
        if (Date.now() - since > 40) {
          await new Promise((resolve) => setTimeout(resolve, 0));
          since = Date.now();
        }
      }
    }
    yield new Uint8Array(await part.arrayBuffer());
  }

  const COMPACT_EVENT_MEMBERS = ['entry', 'body', 'salt', 'gap', 'appended_by', 'erased', 'disclosed'];
  const LIST_EVENTS_UP_TO = 1000;
  const MAX_FAILURES = 10000;

  // EvidenceBundle.CompactEvent(parsing:at:): strict, as v2.
  function parseCompactEvent(item, path) {
    const r = bundleReaders(FORMAT_V3);
    if (!isObject(item)) throw new Refusal(`${path} is not an object`);
    r.refuseUnknown(item, COMPACT_EVENT_MEMBERS, path);
    const disclosed = member(item, 'disclosed');
    if (disclosed !== undefined) {
      if (member(item, 'body') !== undefined || member(item, 'salt') !== undefined || member(item, 'erased') !== undefined) {
        throw new Refusal(`${path} has disclosed fields and also body, salt or erased: one or the other`);
      }
      if (!Array.isArray(disclosed) || disclosed.length > 4096) throw new Refusal(`${path}/disclosed is not an array of at most 4096 fields`);
      const event = {
        entry: r.bytesAt(member(item, 'entry'), `${path}/entry`), body: null, salt: null,
        gap: member(item, 'gap') === undefined ? [] : r.hashes(member(item, 'gap'), `${path}/gap`), appendedBy: null, erasure: null,
        disclosed: disclosed.map((field, i) => parseDisclosedField(field, `${path}/disclosed/${i}`)),
      };
      const appendedBy = member(item, 'appended_by');
      if (appendedBy !== undefined && appendedBy !== null) {
        if (typeof appendedBy !== 'string') throw new Refusal(`${path}/appended_by is not a string or null`);
        event.appendedBy = appendedBy;
      }
      return event;
    }
    const body = member(item, 'body');
    if (body === undefined) throw new Refusal(`${path}/body is missing`);
    if (body !== null && !isObject(body)) throw new Refusal(`${path}/body is not an object or null`);
    const saltValue = member(item, 'salt');
    if (saltValue === undefined) throw new Refusal(`${path}/salt is missing`);
    const event = {
      entry: r.bytesAt(member(item, 'entry'), `${path}/entry`), body, salt: saltValue === null ? null : r.bytesAt(saltValue, `${path}/salt`),
      gap: member(item, 'gap') === undefined ? [] : r.hashes(member(item, 'gap'), `${path}/gap`), appendedBy: null, erasure: null,
    };
    const appendedBy = member(item, 'appended_by');
    if (appendedBy !== undefined && appendedBy !== null) {
      if (typeof appendedBy !== 'string') throw new Refusal(`${path}/appended_by is not a string or null`);
      event.appendedBy = appendedBy;
    }
    const erased = member(item, 'erased');
    if (erased !== undefined) event.erasure = r.parseErasure(erased, `${path}/erased`);
    return event;
  }

  // The state of one v3 verification (CompactBundleVerifier.Run).
  class CompactRun {
    // context: null for a v3 bundle alone; { shard: j, count: n } for element j of a shard bundle of n elements.
    constructor(key, context = null) {
      this.key = key;
      this.context = context;
      this.report = {
        origin: null, checkpointSize: null, checkpointRoot: null, keyName: key.verifierKey, events: [], prevLinksChecked: 0,
        earlierCheckpointsChecked: 0, failures: [], notes: [], eventCount: 0, summary: null, holds: [], failuresNotListed: 0, format: FORMAT_V3,
      };
      this.members = new Map();
      this.checkpoint = null; this.checkpointFailed = false;
      this.fold = new RootFold(); this.foldBroken = false; this.next = 0n; this.previous = null; this.position = 0;
      this.summary = {
        events: 0, byKind: new Map(), byOutcome: new Map(), byTier: new Map(), recordedFrom: null, recordedTo: null, bodiesShown: 0,
        erasuresProven: 0, erasuresUnproven: 0, bodiesWithheld: 0, eventsChecked: 0, holds: [],
      };
      this.listed = []; this.recordClaims = [];
    }
    fail(code, location, message) {
      if (this.report.failures.length >= MAX_FAILURES) { this.report.failuresNotListed += 1; return; }
      this.report.failures.push({ code, location, message });
    }
    failureCount() { return this.report.failures.length + this.report.failuresNotListed; }

    // take(member:): a member other than `events`, checked as it arrives.
    async take(name, bytes) {
      let value;
      try {
        value = parseJSON(utf8Decode(bytes));
      } catch (error) {
        throw new Refusal(`the bundle is not valid JSON: ${error && error.message ? error.message : error}`);
      }
      if (name === 'verifier_key' || name === 'created_at') {
        if (typeof value !== 'string') throw new Refusal(`/${name} is missing or not a string`);
      } else if (name === 'checkpoint') {
        if (typeof value !== 'string') throw new Refusal('/checkpoint is missing or not a string');
        try {
          const checkpoint = await verifyCheckpoint(value, this.key);
          this.checkpoint = checkpoint;
          this.report.origin = checkpoint.origin;
          this.report.checkpointSize = checkpoint.size;
          this.report.checkpointRoot = checkpoint.root;
        } catch (error) {
          if (!(error instanceof Refusal)) throw error;
          this.checkpointFailed = true;
          this.fail('signature', 'checkpoint', error.message);
        }
      }
      this.members.set(name, value);
    }

    // checkEvent, then merge: one event's own checks, its place in the fold, its link to the previous one.
    event(bytes) {
      const position = this.position;
      const path = `/events/${position}`;
      let item;
      try {
        item = parseJSON(utf8Decode(bytes), MAX_DEPTH - 1);
      } catch (error) {
        throw new Refusal(`the bundle is not valid JSON: ${path}: ${error && error.message ? error.message : error}`);
      }
      const compact = parseCompactEvent(item, path);
      this.position += 1;
      let entry;
      try {
        entry = decodeEntry(compact.entry);
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        // Its index is unknown: the multi-leaf proof cannot be followed past it.
        this.fail('entryFormat', `event ${position}`, `the entry is not a valid entry: ${error.message}`);
        if (!this.foldBroken) {
          this.foldBroken = true;
          this.fail('inclusionProof', `event ${position}`, "its entry cannot be read, so the bundle's inclusion proof cannot be followed past it");
        }
        return;
      }
      const leaf = leafHashSync(compact.entry);
      const body = compact.body;
      const disclosed = compact.disclosed || null;
      const disclosedID = disclosed === null ? undefined : stringValue((disclosed.find((f) => f.path.length === 1 && f.path[0] === 'event_id') || {}).value);
      const eventID = body !== null ? stringValue(member(body, 'event_id')) ?? '' : disclosedID ?? '';
      const event = {
        index: entry.index, eventID, kind: entry.kind, body, salt: compact.salt, entry: compact.entry, leafHash: leaf,
        erasure: compact.erasure, appendedBy: compact.appendedBy, disclosed,
      };
      const location = `event ${position} (index ${entry.index})`;
      const failuresBefore = this.failureCount();
      const line = {
        index: entry.index, eventID, sentence: '', verified: false, bodyErased: body === null && disclosed === null, erasure: null,
        erasureLegalReference: null, erasureEntryIndex: null, appendedBy: compact.appendedBy,
      };
      if (disclosed !== null) {
        if (entry.layout !== 2) {
          this.fail('commitment', location, `fields are disclosed, but the entry is of layout ${entry.layout}, which commits to the whole body only`);
        } else {
          for (const problem of disclosedFieldsProblems(disclosed, entry.commitment)) this.fail('commitment', location, problem);
          const kind = disclosed.find((f) => f.path.length === 1 && f.path[0] === 'kind');
          if (kind !== undefined && kind.value !== entry.kind) this.fail('eventMismatch', location, `the disclosed kind is not the entry's kind ${entry.kind}`);
        }
      } else if (body !== null) {
        if (compact.salt !== null) {
          if (!commitsTo(entry, compact.salt, body)) {
            this.fail('commitment', location, "the body and salt do not match the entry's commitment: the body or the salt was changed");
          }
        } else {
          this.fail('commitment', location, 'the body has no salt, so it cannot be checked against the entry');
        }
        if (stringValue(member(body, 'event_id')) === undefined) this.fail('eventMismatch', location, 'the body has no event_id');
        if (stringValue(member(body, 'kind')) !== entry.kind) this.fail('eventMismatch', location, `the body's kind is not the entry's kind ${entry.kind}`);
        const occurred = stringValue(member(body, 'occurred_at'));
        if (occurred !== undefined) {
          const occurredAt = parseTime(occurred);
          if (occurredAt === null) {
            this.fail('time', location, `occurred_at ${occurred} is not an RFC 3339 time`);
          } else if (occurredAt > entry.sequencedAt + CLOCK_SKEW_MS) {
            this.fail('time', location, `the event claims to have happened at ${occurred}, after Greffe recorded it at ${formatTime(entry.sequencedAt)}`);
          }
        }
        if (compact.erasure !== null) {
          this.fail('erasureClaim', location, `the body is shown, yet the bundle claims it was erased under "${compact.erasure.legalReference}": one of the two is false`);
        }
      } else {
        if (compact.erasure !== null) {
          line.erasureLegalReference = compact.erasure.legalReference;
          line.erasureEntryIndex = compact.erasure.erasureEntryIndex;
        }
        // The record's index is checked against the tree size once the bundle is read.
        const outcome = this.erasureOutcome(event);
        if (outcome.withheld !== undefined) {
          this.fail('bodyWithheld', location, `body withheld: ${outcome.withheld}`);
          if (compact.erasure !== null) line.erasure = 'unproven';
          this.summary.bodiesWithheld += 1;
        } else {
          line.erasure = 'proven';
          this.recordClaims.push({ claim: outcome.claim, location, listedLine: this.listed.length });
          this.summary.erasuresProven += 1;
        }
      }

      // The multi-leaf proof: strictly increasing indices, gaps of the right length.
      const previous = this.previous;
      if (previous !== null && entry.index <= previous.index) {
        this.fail('duplicateEvent', location, `index ${entry.index} is not after the previous event's index ${previous.index}: v3 events are in increasing index order`);
        this.foldBroken = true;
      } else if (this.checkpoint !== null && entry.index >= this.checkpoint.size) {
        this.fail('inclusionProof', location, `index ${entry.index} is beyond the checkpoint's ${this.checkpoint.size} entries`);
        this.foldBroken = true;
      } else if (!this.foldBroken) {
        const subtrees = cover(this.next, entry.index);
        if (subtrees.length !== compact.gap.length) {
          this.fail('inclusionProof', location, `its gap holds ${compact.gap.length} hashes; the entries between index ${this.next} and ${entry.index} need ${subtrees.length}`);
          this.foldBroken = true;
        } else {
          subtrees.forEach((s, k) => this.fold.push(s.level, s.position, compact.gap[k]));
          this.fold.push(0n, entry.index, leaf);
          this.next = entry.index + 1n;
        }
      }

      // The hash chain between adjacent bundled entries.
      if (previous !== null && previous.index + 1n === entry.index) {
        this.report.prevLinksChecked += 1;
        if (!equal(entry.prev, previous.leaf)) {
          this.fail('prevLink', `event at index ${entry.index}`, `its prev link is not the leaf hash of entry ${previous.index}`);
        }
        if (entry.sequencedAt < previous.recorded) this.fail('time', `event at index ${entry.index}`, `it was sequenced before entry ${previous.index}`);
      }
      if (previous === null || entry.index > previous.index) this.previous = { index: entry.index, leaf, recorded: entry.sequencedAt };

      const held = this.failureCount() === failuresBefore;
      line.verified = held;
      const summary = this.summary;
      if (held) summary.eventsChecked += 1;
      summary.events += 1;
      summary.byKind.set(entry.kind, (summary.byKind.get(entry.kind) || 0) + 1);
      if (summary.recordedFrom === null) summary.recordedFrom = entry.sequencedAt;
      summary.recordedTo = entry.sequencedAt;
      if (body !== null) {
        summary.bodiesShown += 1;
        const outcome = stringValue(member(member(body, 'decision'), 'outcome'));
        if (outcome !== undefined) { const k = [...outcome].slice(0, 64).join(''); summary.byOutcome.set(k, (summary.byOutcome.get(k) || 0) + 1); }
        const tier = stringValue(member(body, 'subscription_tier')) ?? stringValue(member(body, 'tier'));
        if (tier !== undefined) { const k = [...tier].slice(0, 64).join(''); summary.byTier.set(k, (summary.byTier.get(k) || 0) + 1); }
      }
      if (this.listed.length < LIST_EVENTS_UP_TO) this.listed.push({ line, event, entry });
    }

    // checkErasure's first ten steps, synchronously (the record's own proof is checked at the end).
    erasureOutcome(event) {
      const withheld = (message) => ({ withheld: message });
      if (event.salt !== null) return withheld('the body is null but a salt is given');
      const erasure = event.erasure;
      if (erasure === null) return withheld('the body is null and no erasure is claimed for it');
      // erased.shard: the record is another shard's (Schemas/shards.md, "Proving a body dropped after its shard was sealed").
      const across = erasure.shard === undefined ? null : erasure.shard;
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
      const leaf = leafHashSync(record.entry);
      if (!equal(leaf, record.leafHash)) {
        return withheld(`the erasure record's entry hashes to leaf ${base64Encode(leaf)}, not to the stated ${base64Encode(record.leafHash)}`);
      }
      if (entry.index !== record.index) return withheld(`the erasure record's entry says index ${entry.index}, the record says ${record.index}`);
      if (record.index !== erasure.erasureEntryIndex) {
        return withheld(`the erasure record is entry ${record.index}, not entry ${erasure.erasureEntryIndex} as the claim states`);
      }
      if (entry.kind !== 'erasure.executed' && entry.kind !== 'retention.applied') {
        return withheld(`the erasure record's entry is of kind ${entry.kind}, not erasure.executed or retention.applied`);
      }
      if (record.kind !== entry.kind) return withheld(`the erasure record says kind ${record.kind}, its entry records ${entry.kind}`);
      const body = record.body;
      if (body === null || record.salt === null) return withheld('the erasure record carries no body and salt, so what it orders cannot be checked');
      if (!commitsTo(entry, record.salt, body)) {
        return withheld("the erasure record's body and salt do not match its entry's commitment: the record was changed");
      }
      if (stringValue(member(body, 'kind')) !== entry.kind) return withheld(`the erasure record's body is not of kind ${entry.kind}`);
      if (stringValue(member(body, 'event_id')) !== record.eventID) return withheld(`the erasure record's body's event_id is not ${record.eventID}`);
      if (stringValue(member(body, 'platform')) !== 'greffe') return withheld('the erasure record was not written by Greffe (its platform is not "greffe")');
      const says = erasureRecordSays(body, entry.kind, event, across);
      if (says.problem !== undefined) return withheld(says.problem);
      const ordered = says.ordered;
      if (ordered !== erasure.legalReference) return withheld(`the erasure record's legal reference is "${ordered}", not ${reference} as the claim states`);
      if (across !== null) {
        // In another log: the order of the two is that of their shards. The file's holding shard m, the record's
        // index in its checkpoint and its inclusion proof are checked once every element is read (verifyShardSet).
        const names = member(body, 'shard');
        if (!isIndex(names)) {
          const what = entry.kind === 'retention.applied' ? 'retention' : 'erasure';
          return withheld(`the ${what} record claimed in shard ${across} names no shard: it covers that shard's own entries, not this one`);
        }
        // CompactBundleVerifier.crossShardProblem.
        if (this.context === null) return withheld(`its record is in shard ${across}: ask for the bundle across shards (POST /v1/bundles) to prove it`);
        const own = this.context.shard;
        if (across === own) return withheld(`the claim names this event's own shard ${own} as another shard`);
        if (names !== own) return withheld(`the record in shard ${across} covers shard ${names}'s entries, not shard ${own}'s`);
        if (across < own) return withheld(`the record is in shard ${across}, before this event's shard ${own} was opened`);
        return { claim: { index: record.index, leaf, proof: record.inclusionProof, shard: across } };
      }
      if (record.index <= event.index) return withheld(`the erasure record (entry ${record.index}) is not later than the erased event`);
      return { claim: { index: record.index, leaf, proof: record.inclusionProof } };
    }

    // CompactBundleVerifier.Run.checkHoldRecord: nil (null) when the record's own checks hold.
    static holdProblem(record, role, placed, treeSize) {
      const kind = role === 'placed' ? 'hold.placed' : 'hold.lifted';
      let entry;
      try { entry = decodeEntry(record.entry); } catch (error) { return "the record's entry is not a valid entry"; }
      if (!equal(leafHashSync(record.entry), record.leafHash)) return "the record's entry does not hash to its leaf_hash";
      if (entry.index !== record.index) return `the record's entry says index ${entry.index}, the record says ${record.index}`;
      if (entry.kind !== kind || record.kind !== kind) return `the record is of kind ${entry.kind}, not ${kind}`;
      const body = record.body;
      if (body === null || record.salt === null) return 'the record carries no body and salt';
      if (!commitsTo(entry, record.salt, body)) {
        return "the record's body and salt do not match its entry's commitment: the record was changed";
      }
      if (stringValue(member(body, 'kind')) !== kind || stringValue(member(body, 'event_id')) !== record.eventID) return "the record's body does not match its kind and event_id";
      if (stringValue(member(body, 'platform')) !== 'greffe') return 'the record was not written by Greffe (its platform is not "greffe")';
      if (record.index >= treeSize) return `the record is entry ${record.index}, beyond the checkpoint's ${treeSize} entries`;
      if (role === 'lifted') {
        const target = member(body, 'hold_index');
        if (typeof target !== 'number' || !Number.isSafeInteger(target) || target < 0 || BigInt(target) !== placed.index) {
          return `the hold.lifted record does not name the hold.placed record (entry ${placed.index})`;
        }
        if (record.index <= placed.index) return 'the hold.lifted record is not later than the hold it lifts';
        // A lift naming a shard lifted a hold of that (earlier) shard, not this log's (Schemas/shards.md).
        if (Object.prototype.hasOwnProperty.call(body, 'shard')) {
          const named = member(body, 'shard');
          return `the hold.lifted record names shard ${Number.isSafeInteger(named) ? named : '?'}: it lifted another shard's hold, not this log's`;
        }
      }
      return null;
    }

    static describeHold(hold) {
      const body = hold.placed.body;
      const authority = stringValue(member(body, 'authority')) ?? '?';
      const reference = stringValue(member(body, 'reference')) ?? '?';
      let text = `Legal hold "${reference}" by ${authority}, recorded as entry ${grouped(hold.placed.index)}`;
      text += hold.lifted !== null ? `, lifted by entry ${grouped(hold.lifted.index)}` : ", active at the bundle's checkpoint";
      return text;
    }

    // finish(): after the whole file, the root, the records, the earlier checkpoints, the report.
    async finish() {
      const members = this.members, report = this.report;
      for (const required of ['verifier_key', 'checkpoint', 'created_at', 'earlier_checkpoints', 'tail']) {
        if (!members.has(required)) throw new Refusal(required === 'tail' ? '/tail is missing or not an array' : `/${required} is missing`);
      }
      const known = BUNDLE_MEMBERS.concat(['tail', 'holds']);
      const unknown = [...members.keys()].sort().find((k) => !known.includes(k));
      if (unknown !== undefined) throw new Refusal(`the bundle has the unknown field "${[...unknown].slice(0, 40).join('')}"`);
      const r = bundleReaders(FORMAT_V3);
      const earlierValue = members.get('earlier_checkpoints');
      if (!Array.isArray(earlierValue)) throw new Refusal('/earlier_checkpoints is missing or not an array');
      const earlier = earlierValue.map((item, position) => {
        const path = `/earlier_checkpoints/${position}`;
        if (!isObject(item)) throw new Refusal(`${path} is not an object`);
        r.refuseUnknown(item, ['checkpoint', 'consistency_proof'], path);
        return { note: r.string(item, 'checkpoint', path), consistencyProof: r.hashes(member(item, 'consistency_proof'), `${path}/consistency_proof`) };
      });
      const tail = r.hashes(members.get('tail'), '/tail');
      const holdsValue = members.get('holds');
      if (holdsValue !== undefined && !Array.isArray(holdsValue)) throw new Refusal('/holds is not an array');
      const holds = (holdsValue || []).map((item, position) => {
        const path = `/holds/${position}`;
        if (!isObject(item)) throw new Refusal(`${path} is not an object`);
        r.refuseUnknown(item, ['placed', 'lifted'], path);
        if (member(item, 'placed') === undefined) throw new Refusal(`${path}/placed is missing`);
        if (member(item, 'lifted') === undefined) throw new Refusal(`${path}/lifted is missing`);
        return {
          placed: r.parseEvent(item.placed, `${path}/placed`, true),
          lifted: item.lifted === null ? null : r.parseEvent(item.lifted, `${path}/lifted`, true),
        };
      });
      const timestamps = members.get('timestamps');
      if (timestamps !== undefined && !Array.isArray(timestamps)) throw new Refusal('/timestamps is not an array');
      const verifierKey = members.get('verifier_key');
      if (verifierKey !== this.key.verifierKey) {
        report.notes.push(`the bundle names the key ${verifierKey}; it was checked against the key you gave, ${this.key.verifierKey}`);
      }
      if (Array.isArray(timestamps) && timestamps.length > 0) {
        report.notes.push(`the bundle carries ${timestamps.length} RFC 3161 timestamp token(s); this page does NOT check them, so no time is attested here: run greffe verify with --tsa-cert`);
      }
      const checkpoint = this.checkpoint;
      report.eventCount = this.position;
      if (checkpoint === null) { report.events = []; return report; }

      // The multi-leaf proof's end: the tail, then the root.
      if (!this.foldBroken) {
        const subtrees = cover(this.next, checkpoint.size);
        if (this.previous !== null && this.previous.index >= checkpoint.size) {
          this.fail('inclusionProof', 'events', `the last event's index ${this.previous.index} is beyond the checkpoint's ${checkpoint.size} entries`);
          this.foldBroken = true;
        } else if (subtrees.length !== tail.length) {
          this.fail('inclusionProof', 'tail', `it holds ${tail.length} hashes; the entries after the last event need ${subtrees.length}`);
          this.foldBroken = true;
        } else {
          subtrees.forEach((s, k) => this.fold.push(s.level, s.position, tail[k]));
          const root = this.fold.root();
          if (!equal(root, checkpoint.root)) {
            this.fail('inclusionProof', 'events',
              `the events' entries with the bundle's gap and tail hashes lead to the root ${base64Encode(root)}, not to the checkpoint's: an entry, an index or a proof hash was changed, so no event of this bundle is shown to be in the log`);
            this.foldBroken = true;
          }
        }
      }

      // Erasure and hold records: each proved alone, as in v2.
      const claims = [];
      // Records of another shard: proved by the shard bundle's reader against that element's checkpoint.
      report.crossShardClaims = [];
      for (const { claim, location, listedLine } of this.recordClaims) {
        if (claim.shard !== undefined) {
          report.crossShardClaims.push({ claim, location, item: listedLine < this.listed.length ? this.listed[listedLine] : null });
          continue;
        }
        if (claim.index >= checkpoint.size) {
          this.fail('bodyWithheld', location, `body withheld: the erasure record is entry ${claim.index}, beyond the checkpoint's ${checkpoint.size} entries: the checkpoint does not cover it`);
          if (listedLine < this.listed.length) { this.listed[listedLine].line.erasure = 'unproven'; this.listed[listedLine].line.verified = false; }
          continue;
        }
        claims.push({ claim, location, listedLine, isErasure: true });
      }
      holds.forEach((hold, position) => {
        for (const [record, role] of [[hold.placed, 'placed'], [hold.lifted, 'lifted']]) {
          if (record === null) continue;
          const location = `hold ${position} (${role})`;
          const problem = CompactRun.holdProblem(record, role, hold.placed, checkpoint.size);
          if (problem !== null) { this.fail('hold', location, problem); continue; }
          claims.push({ claim: { index: record.index, leaf: record.leafHash, proof: record.inclusionProof }, location, listedLine: null, isErasure: false });
        }
        this.summary.holds.push(CompactRun.describeHold(hold));
      });
      for (const { claim, location, listedLine, isErasure } of claims) {
        try {
          await verifyInclusion(claim.index, checkpoint.size, claim.leaf, claim.proof, checkpoint.root);
        } catch (error) {
          if (!(error instanceof Refusal)) throw error;
          if (isErasure) {
            this.fail('bodyWithheld', location, `body withheld: the erasure record's inclusion proof does not hold: ${error.message}`);
            if (listedLine < this.listed.length) { this.listed[listedLine].line.erasure = 'unproven'; this.listed[listedLine].line.verified = false; }
          } else {
            this.fail('hold', location, `the record's inclusion proof does not hold: ${error.message}`);
          }
        }
      }

      if (this.position <= LIST_EVENTS_UP_TO) {
        for (const item of this.listed) {
          const line = item.line;
          if (this.foldBroken) line.verified = false;
          line.sentence = describe(item.event, item.entry, checkpoint.origin, FORMAT_V3, line.erasure);
          report.events.push(line);
        }
      } else {
        report.summary = this.summary;
      }
      if (report.summary === null) report.holds = this.summary.holds;
      if (report.failuresNotListed > 0) {
        report.notes.push(`${report.failuresNotListed} more failures are not listed here; --events-csv lists every event's problems`);
      }
      await checkEarlierCheckpoints(earlier, checkpoint, this.key, report, (code, location, message) => report.failures.push({ code, location, message }));
      report.verified = report.failures.length === 0 && report.failuresNotListed === 0;
      return report;
    }
  }

  // A whole v3 check of a Blob (File): the stream, then the end. `format`
  // is found on the way; a v1 or v2 file (or one whose format cannot be
  // read as a stream) is handed back to the in-memory reader.
  // Returns a report, or {otherFormat: true}.
  async function verifyStream(blob, key, onProgress, context = null) {
    const run = new CompactRun(key, context);
    let format = null, eventsRange = null, eventsSeen = false, read = 0, lastProgress = 0;
    const total = blob.size;
    const progress = (force) => {
      if (!onProgress) return;
      const now = Date.now();
      if (force || now - lastProgress > 100) { lastProgress = now; onProgress({ bytesRead: read, totalBytes: total, events: run.position }); }
    };
    const splitter = new BundleSplitter('object');
    // Within a large chunk too, a task boundary every 40 ms (see chunksOf).
    let since = Date.now(), counted = 0;
    const breathe = async () => {
      if (++counted % 64 !== 0 || Date.now() - since < 40) return;
      await new Promise((resolve) => setTimeout(resolve, 0));
      since = Date.now();
    };
    try {
      for await (const chunk of chunksOf(blob)) {
        const items = splitter.feed(chunk);
        read += chunk.length;
        for (const item of items) {
          await breathe();
          if (item.member !== undefined) {
            if (item.member === 'format') {
              let value;
              try { value = parseJSON(utf8Decode(item.bytes)); } catch (error) { return { otherFormat: true }; }
              if (value !== FORMAT_V3) return { otherFormat: true, format: value };
              format = FORMAT_V3;
              run.members.set('format', value);
              for (const early of run.early ? run.early.splice(0) : []) await run.take(early.member, early.bytes);
              continue;
            }
            if (format === null) {
              // The format comes later: keep the member's bytes (small) until it is known.
              (run.early = run.early || []).push(item);
              continue;
            }
            await run.take(item.member, item.bytes);
          } else if (item.eventsStart) {
            eventsSeen = true;
            eventsRange = { start: item.at, end: null, deferred: format === null };
          } else if (item.eventsNotArray) {
            if (format === null) return { otherFormat: true };
            throw new Refusal('/events is missing or not an array');
          } else if (item.eventsEnd) {
            eventsRange.end = item.at;
          } else if (item.event && !eventsRange.deferred) {
            // Checked even without a trusted root, as greffe verify does (its report counts the links).
            run.event(item.bytes);
          }
        }
        progress(false);
      }
      splitter.finish();
    } catch (error) {
      if (format === null && error instanceof Refusal) return { otherFormat: true };
      throw error;
    }
    if (format === null) return { otherFormat: true };
    if (run.early) for (const early of run.early.splice(0)) await run.take(early.member, early.bytes);
    if (!eventsSeen) throw new Refusal('/events is missing or not an array');
    if (eventsRange.deferred) {
      // The events came before the format: read them again, now that it is known.
      const again = new BundleSplitter('array');
      for await (const chunk of chunksOf(blob, eventsRange.start, eventsRange.end)) {
        for (const item of again.feed(chunk)) {
          await breathe();
          if (item.event) run.event(item.bytes);
        }
        progress(false);
      }
      again.finish();
    }
    progress(true);
    return run.finish();
  }

  // Step 4 of BundleVerifier.verify, shared by v2 and v3.
  async function checkEarlierCheckpoints(earlierCheckpoints, checkpoint, key, report, fail) {
    for (const [position, earlier] of earlierCheckpoints.entries()) {
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
  }

  // BundleReportRendering.summaryLines: a large bundle in a few sentences.
  function summaryLines(summary, report) {
    const counts = (table) => [...table.entries()]
      .sort((a, b) => (a[1] !== b[1] ? b[1] - a[1] : a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([k, v]) => `${k}: ${grouped(v)}`).join(', ');
    const lines = [`The bundle holds ${grouped(summary.events)} events (one line each: --events-csv FILE).`];
    if (summary.recordedFrom !== null && summary.recordedTo !== null) {
      lines.push(`Greffe recorded them from ${formatTime(summary.recordedFrom)} to ${formatTime(summary.recordedTo)}.`);
    }
    lines.push(`By kind: ${counts(summary.byKind)}.`);
    if (summary.byOutcome.size > 0) lines.push(`By decision outcome: ${counts(summary.byOutcome)}.`);
    if (summary.byTier.size > 0) lines.push(`By subscription tier: ${counts(summary.byTier)}.`);
    let content = `Content shown for ${grouped(summary.bodiesShown)}`;
    if (summary.erasuresProven > 0) content += `; erased under a proven legal order: ${grouped(summary.erasuresProven)}`;
    if (summary.erasuresUnproven > 0) content += `; erasure claimed but unproven: ${grouped(summary.erasuresUnproven)}`;
    if (summary.bodiesWithheld > 0) content += `; withheld: ${grouped(summary.bodiesWithheld)}`;
    lines.push(content + '.');
    const inclusionFailed = report.failures.some((f) => f.code === 'inclusionProof' || f.code === 'duplicateEvent');
    lines.push(`Each event's own checks (entry, commitment, content) held for ${grouped(summary.eventsChecked)} of them; `
      + 'their inclusion in the signed state is proved for the bundle as a whole: ' + (inclusionFailed ? 'NOT VERIFIED (below).' : 'see the result.'));
    return lines;
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
    // v3: a large bundle's summary, and the legal holds it lists.
    if (report.summary) {
      lines.push('');
      lines.push(...summaryLines(report.summary, report));
    }
    for (const hold of report.summary ? report.summary.holds : report.holds || []) {
      lines.push('');
      lines.push(hold + '.');
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
      const notListed = report.failuresNotListed || 0;
      lines.push(`RESULT: NOT VERIFIED — ${report.failures.length + notListed} problem(s):`);
      for (const f of report.failures) lines.push(`  - ${f.location} [${f.code}]: ${f.message}`);
      if (notListed > 0) lines.push(`  - and ${notListed} more (--events-csv lists each event's problems)`);
    }
    return lines.join('\n');
  }

  // The whole check of one file: never throws for bad input, only reports.
  // `input` is the file's bytes or a Blob (a File, read as a stream).
  // Returns {status: 'verified' | 'failed' | 'unreadable' | 'key', ...}.
  // onProgress({bytesRead, totalBytes, events}) is called while a v3 file streams.
  // ---- greffe-disclosure/v1 (Schemas/disclosure.md) ------------------------
  // DisclosureCertificate: the same checks in the same order and words.
  const FORMAT_CERTIFICATE = 'greffe-disclosure/v1';
  const CERTIFICATE_MEMBERS = ['checkpoint', 'created_at', 'entry', 'fields', 'format', 'inclusion_proof', 'verifier_key'];
  const FIELD_MEMBERS = ['count', 'path', 'position', 'proof', 'salt', 'value'];
  function exactMembers(object, members, where) {
    for (const name of Object.keys(object)) if (!members.includes(name)) throw new Refusal(`${where} has a member "${name}" the format does not define`);
    for (const name of members) if (!Object.prototype.hasOwnProperty.call(object, name)) throw new Refusal(`${where} lacks the member "${name}"`);
  }
  function certificateHashes(value, where) {
    if (!Array.isArray(value) || value.length > 64) throw new Refusal(`${where} is not an array of at most 64 hashes`);
    return value.map((text, i) => {
      const hash = hashFrom(text);
      if (hash === null) throw new Refusal(`${where}/${i} is not a base64 SHA-256 hash`);
      return hash;
    });
  }
  function describePath(path) {
    return path.length === 0 ? '(the whole body)' : path.map((step) => '/' + (typeof step === 'number' ? step : step.replace(/~/g, '~0').replace(/\//g, '~1'))).join('');
  }
  function isCount(value) { return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0; }
  // DisclosedField(parsing:): exactly the six members, of their types.
  function parseDisclosedField(field, at) {
    if (!isObject(field)) throw new Refusal(`${at} is not an object`);
    exactMembers(field, FIELD_MEMBERS, at);
    const pathOK = Array.isArray(field.path) && field.path.every((step) =>
      (typeof step === 'string' && utf8.encode(step).length <= 1024) || (Number.isSafeInteger(step) && step >= 0 && step <= 0xffffffff));
    if (!pathOK) throw new Refusal(`${at}/path is not an array of member names and positions`);
    const salt = typeof field.salt === 'string' ? base64Decode(field.salt) : null;
    if (salt === null || salt.length !== 32) throw new Refusal(`${at}/salt is not 32 bytes in base64`);
    if (!isCount(field.position)) throw new Refusal(`${at}/position is not a non-negative integer`);
    if (!isCount(field.count)) throw new Refusal(`${at}/count is not a non-negative integer`);
    return { path: field.path, value: field.value, salt, position: field.position, count: field.count, proof: certificateHashes(field.proof, `${at}/proof`) };
  }
  // DisclosedField.verify for each, and no path twice: the problems, in order (none when all hold).
  function disclosedFieldsProblems(fields, commitment) {
    const problems = [];
    const seen = new Set();
    for (const field of fields) {
      const where = describePath(field.path);
      const id = JSON.stringify(field.path);
      if (seen.has(id)) { problems.push(`the field ${where} is disclosed twice`); continue; }
      seen.add(id);
      if ((Array.isArray(field.value) && field.value.length > 0) || (isObject(field.value) && Object.keys(field.value).length > 0)) {
        problems.push(`the value of ${where} is not a field (a non-empty ${Array.isArray(field.value) ? 'array' : 'object'})`);
        continue;
      }
      if (field.count > 16384) { problems.push(`the count of ${where} is more than 16384 fields`); continue; }
      const encoded = encodeFieldPath(field.path);
      let tree;
      try {
        tree = inclusionRootSync(field.position, field.count, fieldLeafHash(field.salt, encoded, field.value), field.proof);
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        problems.push(`the proof of ${where} does not fit its position: ${error.message}`);
        continue;
      }
      if (!equal(fieldCommitment(tree, field.count), commitment)) {
        problems.push(`${where} = ${canonical(field.value)} is not a field of the committed body (its proof leads elsewhere)`);
      }
    }
    return problems;
  }
  async function verifyCertificate(value, key) {
    if (!isObject(value)) throw new Refusal('a certificate is a JSON object');
    exactMembers(value, CERTIFICATE_MEMBERS, 'the certificate');
    if (value.format !== FORMAT_CERTIFICATE) throw new Refusal(`format is not ${FORMAT_CERTIFICATE}`);
    for (const name of ['verifier_key', 'checkpoint', 'created_at', 'entry']) {
      if (typeof value[name] !== 'string') throw new Refusal(`/${name} is not a string`);
    }
    const entryBytes = base64Decode(value.entry);
    if (entryBytes === null) throw new Refusal('/entry is not base64');
    const inclusionProof = certificateHashes(value.inclusion_proof, '/inclusion_proof');
    if (!Array.isArray(value.fields)) throw new Refusal('/fields is not an array');
    if (value.fields.length < 1 || value.fields.length > 64) throw new Refusal(`/fields holds ${value.fields.length} fields; 1 to 64`);
    const fields = value.fields.map((field, i) => parseDisclosedField(field, `/fields/${i}`));
    let checkpoint;
    // A sharded ledger's lookup answers with certificates of its shards (`O/k`): the ledger's key, renamed, signs them
    // (Shards.verifiers(for:base:), as DisclosureCertificate.verify).
    const origin = value.checkpoint.split('\n').find((line) => line.length > 0) ?? '';
    const number = shardNumber(origin, key.name);
    const keys = number !== null && number >= 1 ? [key, await renamedKey(key, origin)] : [key];
    try { checkpoint = await verifyCheckpointKeys(value.checkpoint, keys); } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      throw new Refusal(`the checkpoint does not verify: ${error.message}`);
    }
    let entry;
    try { entry = decodeEntry(entryBytes); } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      throw new Refusal(`the entry is not a valid entry: ${error.message}`);
    }
    if (entry.layout !== 2) throw new Refusal(`the entry is of layout ${entry.layout}; only layout 2 commits to fields one by one`);
    try { await verifyInclusion(entry.index, checkpoint.size, await leafHash(entryBytes), inclusionProof, checkpoint.root); } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      throw new Refusal(`the entry is not in the signed checkpoint: ${error.message}`);
    }
    const problem = disclosedFieldsProblems(fields, entry.commitment)[0];
    if (problem !== undefined) throw new Refusal(problem);
    // shard: k when the checkpoint is shard k's (k ≥ 1) of the ledger `ledger`, the key's name; else null.
    const shard = shardNumber(checkpoint.origin, key.name);
    return {
      origin: checkpoint.origin, treeSize: checkpoint.size, index: entry.index, kind: entry.kind, recordedAt: entry.sequencedAt,
      shard: shard !== null && shard >= 1 ? shard : null, ledger: key.name,
      fields: fields.map((f) => ({ path: describePath(f.path), value: canonical(f.value), count: f.count })),
    };
  }
  // Where the entry is, in greffe verify's words: "shard k (O/k) of the ledger O", or "the ledger O".
  function certificateLog(verified) {
    return verified.shard === null || verified.shard === undefined
      ? `the ledger ${verified.origin}` : `shard ${verified.shard} (${verified.origin}) of the ledger ${verified.ledger}`;
  }
  function certificateText(verified, file) {
    const lines = [
      `Disclosure certificate ${file}: entry ${verified.index} of ${certificateLog(verified)}, as signed at size ${verified.treeSize}.`,
      `The ledger recorded an event of kind ${verified.kind} at ${formatTime(verified.recordedAt)} whose body held:`,
      ...verified.fields.map((f) => `  ${f.path} = ${f.value}`),
      `Nothing else of the event is shown or proved: the other ${verified.fields[0].count - verified.fields.length} field(s) stay hidden.`,
      'RESULT: VERIFIED — the signature, the entry\'s inclusion and every disclosed field hold.',
    ];
    return lines.join('\n');
  }

  // ---- greffe-shard-bundle/v1 (Schemas/shards.md, "Bundles across shards") --
  // One v3 bundle per shard, each checked by the v3 reader above with its
  // shard's key, and the shard.opened links between them.
  const FORMAT_SHARDS = 'greffe-shard-bundle/v1';
  const SHARD_SET_MEMBERS = ['created_at', 'format', 'origin', 'query', 'shards', 'verifier_key'];
  const LINK_REQUIRED = ['event_id', 'kind', 'occurred_at', 'platform', 'schema_version', 'shard', 'origin', 'previous_origin', 'previous_checkpoint', 'reason'];
  const LINK_OPTIONAL = ['previous_last_leaf_hash', 'lost_entries', 'lost_because'];
  function shardOrigin(base, k) { return k === 0 ? base : `${base}/${k}`; }
  // The given key renamed: same public key, key ID recomputed from the new name.
  async function shardKey(key, k) { return renamedKey(key, shardOrigin(key.name, k)); }
  async function renamedKey(key, name) {
    const id = await keyID(name, key.publicKey);
    return { name, keyID: id, cryptoKey: key.cryptoKey, publicKey: key.publicKey, verifierKey: `${name}+${hex8(id)}+${base64Encode(concat([Uint8Array.of(1), key.publicKey]))}` };
  }
  function isIndex(value) { return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0; }
  // The link body as its schema has it (Schemas/events/shard.opened.schema.json): the first problem, or null.
  function linkBodyProblem(body, k, base) {
    const unknown = Object.keys(body).sort().find((name) => !LINK_REQUIRED.includes(name) && !LINK_OPTIONAL.includes(name));
    if (unknown !== undefined) return `its body has the member "${[...unknown].slice(0, 40).join('')}" the schema does not define`;
    const missing = LINK_REQUIRED.find((name) => !Object.prototype.hasOwnProperty.call(body, name));
    if (missing !== undefined) return `its body lacks "${missing}"`;
    const id = body.event_id;
    if (typeof id !== 'string' || !/^[!-~]{1,128}$/.test(id)) return 'its body\'s event_id is not 1 to 128 printable ASCII characters';
    if (body.kind !== 'shard.opened') return 'its body\'s kind is not shard.opened';
    if (typeof body.occurred_at !== 'string' || parseTime(body.occurred_at) === null) return 'its body\'s occurred_at is not an RFC 3339 time';
    // Only Greffe writes this kind (intake refuses it from platforms).
    if (body.platform !== 'greffe') return 'its body\'s platform is not "greffe"';
    if (body.schema_version !== 1) return 'its body\'s schema_version is not 1';
    if (body.shard !== k) return `its body names shard ${canonical(body.shard)}, not shard ${k}`;
    if (body.origin !== shardOrigin(base, k)) return `its body names the origin ${canonical(body.origin)}, not ${shardOrigin(base, k)}`;
    if (body.previous_origin !== shardOrigin(base, k - 1)) return `its body names the previous origin ${canonical(body.previous_origin)}, not ${shardOrigin(base, k - 1)}`;
    if (typeof body.previous_checkpoint !== 'string' || body.previous_checkpoint.length === 0 || body.previous_checkpoint.length > 65536) {
      return 'its body\'s previous_checkpoint is not a string of 1 to 65536 characters';
    }
    const has = (name) => Object.prototype.hasOwnProperty.call(body, name);
    if (body.reason === 'size' || body.reason === 'period') {
      if (!has('previous_last_leaf_hash') || typeof body.previous_last_leaf_hash !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(body.previous_last_leaf_hash)) {
        return `its body (reason ${body.reason}) has no valid previous_last_leaf_hash`;
      }
      if (has('lost_entries') || has('lost_because')) return `its body (reason ${body.reason}) names lost entries`;
      return null;
    }
    if (body.reason !== 'restore') return `its body's reason ${canonical(body.reason)} is none of size, period, restore`;
    if (has('previous_last_leaf_hash')) return 'its body (reason restore) names a previous_last_leaf_hash: that entry is lost';
    const lost = body.lost_entries;
    if (!isObject(lost) || Object.keys(lost).sort().join(',') !== 'end_index,first_index' || !isIndex(lost.first_index) || !isIndex(lost.end_index)) {
      return 'its body (reason restore) has no lost_entries {first_index, end_index} of integers';
    }
    if (lost.first_index >= lost.end_index) return `its body's lost_entries [${lost.first_index}, ${lost.end_index}) is empty`;
    if (typeof body.lost_because !== 'string' || body.lost_because.length === 0 || body.lost_because.length > 2000) {
      return 'its body (reason restore) has no lost_because of 1 to 2000 characters';
    }
    return null;
  }

  // Step 3 for shard k: { problem } or { ok: sentence, lost? }.
  async function checkLink(k, element, previous, key, sk, previousKey) {
    const events = member(element, 'events');
    if (!Array.isArray(events) || events.length === 0) return { problem: 'it holds no event, so not its entry 0 (the shard.opened link)' };
    let compact, entry;
    try {
      compact = parseCompactEvent(events[0], '/events/0');
      entry = decodeEntry(compact.entry);
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      return { problem: `its first event cannot be read: ${error.message}` };
    }
    // v3 events are in increasing index order: entry 0, if bundled, is first.
    if (entry.index !== 0n) return { problem: `its first event is entry ${entry.index}: entry 0 (the shard.opened link) is missing` };
    if (entry.kind !== 'shard.opened') return { problem: `its entry 0 is of kind ${entry.kind}, not shard.opened` };
    if (compact.disclosed) return { problem: 'its entry 0 has disclosed fields, not its whole body' };
    if (compact.body === null) return { problem: 'its entry 0 has no body (withheld or erased)' };
    // The event's own checks, by the v3 reader itself.
    const probe = new CompactRun(sk);
    probe.event(utf8.encode(JSON.stringify(events[0])));
    if (probe.report.failures.length > 0) return { problem: `its entry 0's own checks fail: ${probe.report.failures[0].message}` };
    const body = compact.body;
    const problem = linkBodyProblem(body, k, key.name);
    if (problem !== null) return { problem };
    let sealed;
    try {
      sealed = await verifyCheckpoint(body.previous_checkpoint, previousKey);
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      return { problem: `its previous_checkpoint is not shard ${k - 1}'s: ${error.message}` };
    }
    if (previous.checkpointSize === null) return { problem: `shard ${k - 1}'s checkpoint does not verify, so what the link seals cannot be compared with it` };
    const what = `shard ${k}'s entry 0 (shard.opened, reason ${body.reason}) seals shard ${k - 1} at ${grouped(sealed.size)} entries (root ${base64Encode(sealed.root)})`;
    if (body.reason !== 'restore') {
      if (sealed.size !== previous.checkpointSize || !equal(sealed.root, previous.checkpointRoot)) {
        return { problem: `${what}, but shard ${k - 1}'s bundle is proved against its checkpoint of ${grouped(previous.checkpointSize)} entries (root ${base64Encode(previous.checkpointRoot)}), not that final one` };
      }
      return { ok: `${what}, the checkpoint shard ${k - 1}'s bundle is proved against: the link holds` };
    }
    const first = BigInt(body.lost_entries.first_index), end = BigInt(body.lost_entries.end_index);
    if (end !== sealed.size) return { problem: `${what}, but its lost_entries end at ${grouped(end)}, not at that size` };
    if (previous.checkpointSize > first) {
      return { problem: `${what} after losing entries from ${grouped(first)}, but shard ${k - 1}'s bundle is proved against a checkpoint of ${grouped(previous.checkpointSize)} entries, past the first lost one` };
    }
    const lost = `entries ${grouped(first)} to ${grouped(end - 1n)} of shard ${k - 1} were lost in a restore ("${body.lost_because}"): events among them may have matched this bundle's query, and no bundle can show them`;
    return { ok: `${what}, with a gap: ${lost}`, lost };
  }

  async function verifyShardSet(value, key) {
    if (!isObject(value)) throw new Refusal('the bundle is not a JSON object');
    if (value.format !== FORMAT_SHARDS) throw new Refusal(`format is not ${FORMAT_SHARDS}`);
    exactMembers(value, SHARD_SET_MEMBERS, 'the shard bundle');
    for (const name of ['origin', 'verifier_key', 'created_at']) if (typeof value[name] !== 'string') throw new Refusal(`/${name} is not a string`);
    if (!isObject(value.query)) throw new Refusal('/query is not an object');
    if (!Array.isArray(value.shards) || value.shards.length === 0) throw new Refusal('/shards is not a non-empty array');
    const report = {
      format: FORMAT_SHARDS, origin: null, checkpointSize: null, checkpointRoot: null, keyName: key.verifierKey, events: [], summary: null, holds: [],
      prevLinksChecked: 0, earlierCheckpointsChecked: 0, failures: [], failuresNotListed: 0, notes: [], shards: [], links: [],
    };
    // As greffe verify: a file naming another ledger than the key's is not that ledger's.
    if (value.origin !== key.name) {
      report.failures.push({ code: 'origin', location: 'the file', message: `it names the ledger ${[...value.origin].slice(0, 200).join('')}, but the key given is of ${key.name}` });
    }
    if (value.verifier_key !== key.verifierKey) report.notes.push(`the file names the key ${value.verifier_key}; it was checked against the key you gave, ${key.verifierKey}`);
    const wanted = canonical(value.query);
    const keys = [];
    const count = value.shards.length;
    for (const [k, element] of value.shards.entries()) {
      const sk = await shardKey(key, k);
      keys.push(sk);
      const where = `shard ${k}`;
      const shard = { shard: k, origin: sk.name, key: sk.verifierKey, report: null, message: null, createdAt: stringValue(member(element, 'created_at')) ?? null, failures: [] };
      report.shards.push(shard);
      if (!isObject(element)) { shard.message = 'it is not a JSON object'; shard.failures.push({ code: 'shardElement', location: where, message: shard.message }); continue; }
      if (element.format !== FORMAT_V3) {
        shard.message = `its format is not ${FORMAT_V3}`;
        shard.failures.push({ code: 'shardElement', location: where, message: shard.message });
        continue;
      }
      if (!Object.prototype.hasOwnProperty.call(element, 'query') || canonical(element.query) !== wanted) {
        shard.failures.push({ code: 'query', location: where, message: "its query is not the file's query" });
      }
      try {
        shard.report = await verifyStream(new Blob([utf8.encode(JSON.stringify(element))]), sk, undefined, { shard: k, count });
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        shard.message = `it is not a readable ${FORMAT_V3} bundle: ${error.message}`;
        shard.failures.push({ code: 'shardElement', location: where, message: shard.message });
      }
    }
    // Bodies dropped after their shard was sealed (Schemas/shards.md, "Proving a body dropped after its
    // shard was sealed"): each record of shard m, steps 11 and 12 against element m's checkpoint.
    for (const shard of report.shards) {
      const part = shard.report;
      if (part === null) continue;
      for (const { claim, location, item } of part.crossShardClaims || []) {
        const other = claim.shard < report.shards.length ? report.shards[claim.shard].report : null;
        let problem = null;
        if (claim.shard >= report.shards.length) {
          problem = `its record is in shard ${claim.shard}, which the file does not hold`;
        } else if (other === null || other.checkpointSize === null) {
          problem = `shard ${claim.shard}'s checkpoint did not verify, so its record cannot be proved`;
        } else if (claim.index >= other.checkpointSize) {
          problem = `its record is entry ${claim.index} of shard ${claim.shard}, beyond that shard's checkpoint (${other.checkpointSize} entries)`;
        } else {
          try {
            await verifyInclusion(claim.index, other.checkpointSize, claim.leaf, claim.proof, other.checkpointRoot);
          } catch (error) {
            if (!(error instanceof Refusal)) throw error;
            problem = `its record's inclusion proof does not hold in shard ${claim.shard}'s checkpoint: ${error.message}`;
          }
        }
        if (problem === null) continue;
        part.failures.push({ code: 'bodyWithheld', location, message: `body withheld: ${problem}` });
        part.verified = false;
        if (item !== null) {
          item.line.erasure = 'unproven';
          item.line.verified = false;
          item.line.sentence = describe(item.event, item.entry, part.origin, FORMAT_V3, 'unproven');
        }
      }
    }
    for (const shard of report.shards) {
      const where = `shard ${shard.shard}`, part = shard.report;
      report.failures.push(...shard.failures);
      if (part === null) continue;
      for (const f of part.failures) report.failures.push({ code: f.code, location: `${where}: ${f.location}`, message: f.message });
      report.failuresNotListed += part.failuresNotListed || 0;
      report.events.push(...part.events);
      if (part.summary) report.notes.push(...summaryLines(part.summary, part).map((line) => `${where}: ${line}`));
      report.holds.push(...(part.summary ? part.summary.holds : part.holds || []).map((hold) => `${where}: ${hold}`));
      report.prevLinksChecked += part.prevLinksChecked;
      report.earlierCheckpointsChecked += part.earlierCheckpointsChecked;
      report.notes.push(...part.notes.map((note) => `${where}: ${note}`));
    }
    for (let k = 1; k < value.shards.length; k++) {
      const element = value.shards[k], previous = report.shards[k - 1].report;
      let outcome;
      if (!isObject(element)) outcome = { problem: 'it is not a JSON object' };
      else if (previous === null) outcome = { problem: `shard ${k - 1}'s bundle cannot be read, so the link cannot be checked` };
      else outcome = await checkLink(k, element, previous, key, keys[k], keys[k - 1]);
      if (outcome.problem !== undefined) {
        report.failures.push({ code: 'shardLink', location: `shard ${k}: link to shard ${k - 1}`, message: outcome.problem });
        report.links.push({ shard: k, holds: false, sentence: outcome.problem });
      } else {
        report.links.push({ shard: k, holds: true, sentence: outcome.ok });
        if (outcome.lost) report.notes.push(`LOST ENTRIES: ${outcome.lost}`);
      }
    }
    const last = report.shards[report.shards.length - 1];
    if (last.report !== null && last.report.checkpointSize !== null) {
      report.notes.push(`nothing in the file proves that no shard came after shard ${last.shard}: the file shows it at its checkpoint of ${grouped(last.report.checkpointSize)} entries, in a bundle the server says it made at ${last.createdAt}`);
    }
    report.verified = report.failures.length === 0 && report.failuresNotListed === 0;
    return report;
  }

  function shardSetText(report, file) {
    const n = report.shards.length;
    const lines = [
      `Verification of ${file} (${FORMAT_SHARDS}: ${n} shard(s), 0 to ${n - 1})`,
      `Checked against the verifier key ${report.keyName}, renamed for each shard`,
    ];
    for (const shard of report.shards) {
      lines.push('', `== Shard ${shard.shard}: the log ${shard.origin}, checked with the key ${shard.key}`);
      if (shard.report === null) { lines.push(`NOT VERIFIED: ${shard.message}`); continue; }
      // The element's own report, less its heading (the key is named above); its verdict is the shard's
      // alone, so it does not read as the file's ("RESULT: " stays the file's, for those who grep it).
      lines.push(...reportText(shard.report, `${file}, shard ${shard.shard}`).split('\n').slice(3)
        .map((line) => (line.startsWith('RESULT: ') ? `Shard ${shard.shard} alone: ${line.slice(8)}` : line)));
    }
    lines.push('', '== Links between the shards');
    for (const link of report.links) lines.push(`Shard ${link.shard}: ${link.holds ? link.sentence : `NOT VERIFIED: ${link.sentence}`}`);
    if (report.links.length === 0) lines.push('The file holds one shard: no link.');
    // Each shard's own notes are in its part above.
    for (const note of report.notes.filter((x) => !/^shard \d+: /.test(x))) lines.push(`Note: ${note}`);
    lines.push('');
    if (report.verified) {
      lines.push(`RESULT: VERIFIED — every shard's bundle (0 to ${n - 1}) and every link between them holds.`);
      const unproven = unprovenErasures(report);
      if (unproven > 0) lines.push(unprovenSentence(unproven));
    } else {
      const notListed = report.failuresNotListed || 0;
      lines.push(`RESULT: NOT VERIFIED — ${report.failures.length + notListed} problem(s):`);
      for (const f of report.failures) lines.push(`  - ${f.location} [${f.code}]: ${f.message}`);
      if (notListed > 0) lines.push(`  - and ${notListed} more (--events-csv lists each event's problems)`);
    }
    return lines.join('\n');
  }

  async function check(input, verifierKeyText, file, onProgress) {
    if (!subtle) return { status: 'key', message: 'this browser has no WebCrypto; open the page in a current browser or use `greffe verify`' };
    let key;
    try {
      key = await parseVerifierKey(verifierKeyText);
    } catch (error) {
      return { status: 'key', message: `verifier key: ${error instanceof Refusal ? error.message : String(error)}` };
    }
    const blob = input instanceof Uint8Array ? new Blob([input]) : input;
    // A certificate is small; a file that claims to be one is checked as one.
    if (blob.size <= 1 << 20) {
      let value = null;
      try { value = parseJSON(utf8Decode(new Uint8Array(await blob.arrayBuffer()))); } catch (error) { value = null; }
      if (isObject(value) && value.format === FORMAT_CERTIFICATE) {
        try {
          const certificate = await verifyCertificate(value, key);
          return { status: 'verified', certificate, text: certificateText(certificate, file) };
        } catch (error) {
          if (!(error instanceof Refusal)) throw error;
          return { status: 'failed', certificateFailure: error.message, text: `NOT VERIFIED: ${file} is a disclosure certificate that does not hold: ${error.message}` };
        }
      }
    }
    let report;
    try {
      report = await verifyStream(blob, key, onProgress);
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      return { status: 'unreadable', message: `NOT VERIFIED: ${file} is not a readable evidence bundle: ${error.message}` };
    }
    if (report.otherFormat) {
      // v1 and v2 (and files that are no bundle): read whole, as before v3.
      if (blob.size > MAX_IN_MEMORY) {
        return { status: 'unreadable', message: `NOT VERIFIED: ${file} is not a readable evidence bundle: a file of this format over 512 MiB cannot be checked in a browser; use greffe verify` };
      }
      const bytes = input instanceof Uint8Array ? input : new Uint8Array(await blob.arrayBuffer());
      if (report.format === FORMAT_SHARDS) {
        let value, set;
        try {
          value = parseJSON(utf8Decode(bytes));
        } catch (error) {
          return { status: 'unreadable', message: `NOT VERIFIED: ${file} is not a readable shard bundle: it is not valid JSON: ${error && error.message ? error.message : error}` };
        }
        try {
          set = await verifyShardSet(value, key);
        } catch (error) {
          if (!(error instanceof Refusal)) throw error;
          return { status: 'unreadable', message: `NOT VERIFIED: ${file} is not a readable shard bundle: ${error.message}` };
        }
        return { status: set.verified ? 'verified' : 'failed', report: set, text: shardSetText(set, file) };
      }
      let bundle;
      try {
        bundle = parseBundle(bytes);
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        return { status: 'unreadable', message: `NOT VERIFIED: ${file} is not a readable evidence bundle: ${error.message}` };
      }
      report = await verify(bundle, key);
    }
    return { status: report.verified ? 'verified' : 'failed', report, text: reportText(report, file) };
  }

  return {
    check, parseVerifierKey, parseBundle, verify, verifyCertificate, verifyShardSet, shardSetText, reportText, summaryLines, canonical, unprovenErasures, unprovenSentence, Refusal,
    sha256Sync, cover, BundleSplitter, LIST_EVENTS_UP_TO,
  };
})();
if (typeof module !== 'undefined') module.exports = GreffeVerifier;
