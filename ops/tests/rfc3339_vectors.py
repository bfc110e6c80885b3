#!/usr/bin/env python3
"""RFC 3339 date-time vectors for Greffe's parser (RFC3339TimeTests).

Writes Tests/Vectors/rfc3339.json: hand-picked edge cases, seeded random
valid times and seeded one-character mutations of them, each with its
verdict and, when valid, its Unix milliseconds. The verdict is
rfc3339-validator's (what python-jsonschema's `format: date-time` uses, on
the upper-cased text as jsonschema does), except where it departs from RFC
3339 §5.6 on purpose: it refuses a leap second (:60) and year 0000, which the
ABNF allows, and its `$` lets a trailing line feed through. The milliseconds
come from Python's datetime arithmetic, the fraction truncated to whole
milliseconds and :60 counted as the next minute's first second (Greffe's
rules, see Sources/GreffeCore/RFC3339Time.swift).

  ops/tests/rfc3339_vectors.py           regenerate
  ops/tests/rfc3339_vectors.py --check   exit 1 if the committed file differs
"""
import calendar
import datetime
import json
import os
import random
import re
import sys

from rfc3339_validator import validate_rfc3339

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUTPUT = os.path.join(ROOT, "Tests", "Vectors", "rfc3339.json")
FIELDS = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|([+-])(\d{2}):(\d{2}))", re.ASCII)


def valid(text):
    if "\n" in text:
        return False
    m = FIELDS.fullmatch(text)
    if m and m.group(6) == "60":  # leap second: RFC 3339 §5.6 allows 60
        text = text[:m.start(6)] + "59" + text[m.end(6):]
    if m and m.group(1) == "0000":  # year 0000: date-fullyear is any 4DIGIT; 2000 is leap as year 0 is
        text = "2000" + text[4:]
    return validate_rfc3339(text.upper())


def milliseconds(text):
    m = FIELDS.fullmatch(text)
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction = (m.group(7) or "")[:3].ljust(3, "0")
    offset = 0
    if m.group(9):
        offset = (int(m.group(10)) * 60 + int(m.group(11))) * (-1 if m.group(9) == "-" else 1)
    # datetime has no year 0: shift by 400 years (146,097 days, the Gregorian cycle).
    shift = 146_097 if year == 0 else 0
    civil = datetime.datetime(year + (400 if shift else 0), month, day, hour, minute, min(second, 59))
    seconds = (civil - datetime.datetime(1970, 1, 1)) // datetime.timedelta(seconds=1) - shift * 86_400
    seconds += (1 if second == 60 else 0) - offset * 60
    return seconds * 1000 + int(fraction)


EDGES = [
    "2026-03-14T09:26:53Z", "2026-03-14T09:26:53.589Z", "2026-03-14t09:26:53z", "2026-03-14T09:26:53.5899999Z",
    "1970-01-01T00:00:00Z", "1970-01-01T01:00:00+01:00", "1969-12-31T23:59:59Z", "1969-12-31T23:59:59.9995Z",
    "1969-12-31T23:59:59.999999999999999999999Z", "1969-07-20T20:17:40+00:00", "0001-01-01T00:00:00+23:59",
    "0000-01-01T00:00:00Z", "0000-02-29T00:00:00Z", "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999999999Z",
    "9999-12-31T00:00:00-23:59", "2016-12-31T23:59:60Z", "2016-12-31T23:59:60.5Z", "2026-06-30T23:59:60Z",
    "2026-06-30T23:59:61Z", "2024-02-29T00:00:00Z", "2000-02-29T12:00:00+01:00", "1900-02-29T00:00:00Z",
    "2100-02-29T00:00:00Z", "2400-02-29T00:00:00Z", "2027-02-29T00:00:00Z", "2026-02-28T23:59:59Z",
    "2026-04-31T00:00:00Z", "2026-06-31T00:00:00Z", "2026-09-31T00:00:00Z", "2026-11-31T00:00:00Z",
    "2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z", "2026-12-31T00:00:00Z", "2026-12-32T00:00:00Z",
    "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-32T00:00:00Z",
    "2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z", "2026-01-01T00:00:00", "2026-01-01 00:00:00Z",
    "2026-01-01T00:00Z", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00,5Z", "2026-01-01T00:00:00+24:00",
    "2026-01-01T00:00:00+23:59", "2026-01-01T00:00:00-23:59", "2026-01-01T00:00:00-00:00", "2026-01-01T00:00:00+05:60",
    "2026-01-01T00:00:00+0500", "2026-01-01T00:00:00+05", "2026-01-01T00:00:00+05:00:00", "26-01-01T00:00:00Z",
    "2026-1-01T00:00:00Z", "+2026-01-01T00:00:00Z", "-2026-01-01T00:00:00Z", "12026-01-01T00:00:00Z",
    "2026-01-01T00:00:00Z\n", "2026-01-01T00:00:00Z ", " 2026-01-01T00:00:00Z", "2026-01-01T00:00:00ZZ",
    "2026-01-01T00:00:00z\n", "\uff12026-01-01T00:00:00Z", "2026-01-01T00:00:0\u0663Z", "2026-01-01T00:00:00.\u0663Z",
    "2026-01-01", "", "T", "Z", "2026-01-01T00:00:00\u1e97", "2026-01-01\ufb0600:00:00Z", "2026-01-01T00:00:00GMT",
    "2026-01-01T00:00:00UTC", "2026-01-01T00:00:00.5", "2026-01-01T00:00:00.123456789012345678901234567890Z",
    "2026-01-01T00:00:00Z\u0000", "2026-01-01T00:00:00\u212a", "2026-01-01T1:00:00Z", "2026-01-01T00:00:00 Z",
    "2026/01/01T00:00:00Z", "2026-01-01T00.00.00Z", "yesterday", "2026-11-25 10:00",
]


def random_valid(rng):
    year = rng.choice([rng.randint(1, 9999), rng.randint(1900, 2100), rng.randint(1960, 1980)])
    month = rng.randint(1, 12)
    day = rng.randint(1, calendar.monthrange(year, month)[1])
    text = "%04d-%02d-%02d%s%02d:%02d:%02d" % (year, month, day, rng.choice("TTTt"), rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))
    digits = rng.choice([0, 0, 1, 2, 3, 3, 4, 6, 9, 12])
    if digits:
        text += "." + "".join(rng.choice("0123456789") for _ in range(digits))
    if rng.random() < 0.4:
        return text + rng.choice("ZZZz")
    return text + "%s%02d:%02d" % (rng.choice("+-"), rng.randint(0, 23), rng.randint(0, 59))


def mutate(rng, text):
    pool = "0123456789:-.+TZtz \n\u0663\uff10\u00e9"
    i = rng.randrange(len(text) + 1)
    how = rng.randrange(3)
    if how == 0 and i < len(text):
        return text[:i] + text[i + 1:]
    if how == 1 and i < len(text):
        return text[:i] + rng.choice(pool) + text[i + 1:]
    return text[:i] + rng.choice(pool) + text[i:]


def vectors():
    rng = random.Random(3339)
    texts = list(EDGES)
    randoms = [random_valid(rng) for _ in range(1000)]
    texts += randoms
    texts += [mutate(rng, rng.choice(randoms)) for _ in range(1000)]
    out, seen = [], set()
    for text in texts:
        if text in seen:
            continue
        seen.add(text)
        ok = valid(text)
        out.append({"text": text, "valid": ok, "milliseconds": milliseconds(text) if ok else None})
    return {
        "description": "RFC 3339 section 5.6 date-times: verdict (rfc3339-validator, but leap second and year 0000 "
                       "allowed and a trailing line feed refused, as the RFC's ABNF says) and Unix milliseconds "
                       "(Python datetime; fraction truncated, :60 as the next minute's first second). "
                       "Generated by ops/tests/rfc3339_vectors.py.",
        "vectors": out,
    }


def main():
    data = vectors()
    # One vector a line, ASCII only: diffs stay readable.
    lines = ",\n".join(json.dumps(v) for v in data["vectors"])
    text = '{"description": %s,\n"vectors": [\n%s\n]}\n' % (json.dumps(data["description"]), lines)
    if sys.argv[1:] == ["--check"]:
        with open(OUTPUT) as f:
            sys.exit(0 if f.read() == text else 1)
    with open(OUTPUT, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
