"""RFC 8785 JSON Canonicalization Scheme: the bytes Greffe's commitments are computed over."""
import math
from typing import Any, List

from .errors import VerificationError

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def canonicalize(value: Any) -> bytes:
    """The RFC 8785 form of a JSON value as Python's `json` module decodes it."""
    out: List[str] = []
    _write(value, out)
    return "".join(out).encode("utf-8")


def format_number(number: float) -> str:
    """ECMAScript Number::toString (RFC 8785 §3.2.2.3) from Python's shortest round-trip digits."""
    if math.isnan(number) or math.isinf(number):
        raise VerificationError("JSON numbers must be finite")
    if number == 0:
        return "0"  # also -0
    sign = "-" if number < 0 else ""
    mantissa, _, exp_text = repr(abs(number)).partition("e")
    integer, _, fraction = mantissa.partition(".")
    digits = (integer + fraction).lstrip("0")
    # value = 0.digits × 10^n, with n counted from where Python put the point.
    exponent = int(exp_text) if exp_text else 0
    if integer == "0":
        n = exponent - (len(fraction) - len(fraction.lstrip("0")))
    else:
        n = len(integer) + exponent
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        text = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return sign + text


def _write_string(text: str, out: List[str]) -> None:
    out.append('"')
    for c in text:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif ord(c) < 0x20:
            out.append("\\u%04x" % ord(c))
        elif 0xD800 <= ord(c) <= 0xDFFF:
            raise VerificationError("JSON string holds a lone surrogate")
        else:
            out.append(c)
    out.append('"')


def _write(value: Any, out: List[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        # JSON numbers are IEEE doubles to RFC 8785 (as to the server): 10**20 is written 100000000000000000000.
        out.append(format_number(float(value)))
    elif isinstance(value, float):
        out.append(format_number(value))
    elif isinstance(value, str):
        _write_string(value, out)
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        # RFC 8785 §3.2.3: members sorted by their names' UTF-16 code units.
        for i, name in enumerate(sorted(value, key=lambda n: n.encode("utf-16-be", "surrogatepass"))):
            if not isinstance(name, str):
                raise VerificationError("JSON member names must be strings")
            if i:
                out.append(",")
            _write_string(name, out)
            out.append(":")
            _write(value[name], out)
        out.append("}")
    else:
        raise VerificationError("not a JSON value: %r" % type(value).__name__)
