#!/usr/bin/env bash
# PDQ agreement: greffe's Swift PDQ (`greffe image hash`, PNG/JPEG through
# libpng and libjpeg-turbo) and JavaScript PDQ (web/pdq.js under node)
# against Meta's reference as the `pdqhash` package (PyPI) builds it.
#
#  1. ops/tests/pdq_agreement.py generates ~30 images (gradients, shapes,
#     noise, text-like, photo-like, several sizes, non-square, tiny, below
#     PDQ's 5-pixel minimum) and their transformations (JPEG 95/70/50,
#     resize 50%/150%, 5% crops (of the area, centred; of the width, one side), mirror, 2° rotation); on identical pixels the
#     three must give identical hashes and quality, and on every pair
#     (original vs transformation, unrelated originals) the same verdict at
#     distance ≤ 31. Mismatches are printed as a table.
#  2. `greffe image hash` on hostile files: wrong magic, truncated PNG and
#     JPEG, a PNG header claiming 60,000 × 60,000 pixels, a directory, a
#     missing file: one clear line each on stderr, exit 1, no crash; the good
#     files on the same command line are still hashed.
#
# Usage: ops/tests/pdq.sh   Env: GREFFE (binary, default .build/debug/greffe), KEEP=1
# Needs: python3 with numpy, Pillow, pdqhash (ops/install-deps.sh), node. About 30 s.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GREFFE=${GREFFE:-$ROOT/.build/debug/greffe}
NAME=pdq
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greffe-pdq.XXXXXX")
# shellcheck source=lib.sh
source "$ROOT/ops/tests/lib.sh"

[[ -x $GREFFE ]] || die "greffe binary not found at $GREFFE (set GREFFE)"
command -v node >/dev/null || die "node not found"
python3 -c 'import pdqhash, PIL, numpy' 2>/dev/null || die "pdqhash, Pillow or numpy missing (ops/install-deps.sh installs them)"

# 1. Agreement.
if python3 "$ROOT/ops/tests/pdq_agreement.py" --greffe "$GREFFE" --work "$WORK/corpus" >"$WORK/agreement.log" 2>&1; then
    pass "Swift, pdq.js and pdqhash agree: $(grep -c . "$WORK/agreement.log") summary lines"
    sed 's/^/     /' "$WORK/agreement.log"
else
    bad "Swift, pdq.js and pdqhash disagree"
    sed 's/^/     /' "$WORK/agreement.log"
fi

# 2. Hostile files.
good=$(ls "$WORK"/corpus/shapes-0-*.png 2>/dev/null | head -n 1)
[[ -n $good ]] || die "the corpus was not generated"
printf 'GIF89a not an image' >"$WORK/wrong-magic.png"
head -c 600 "$good" >"$WORK/truncated.png"
head -c 700 "$(ls "$WORK"/corpus/*.jpeg70.jpg | head -n 1)" >"$WORK/truncated.jpg"
python3 - "$WORK/huge.png" <<'PY'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
with open(sys.argv[1], "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 100000, 9)) + chunk(b"IEND", b""))
PY
mkdir -p "$WORK/a-directory.png"
"$GREFFE" image hash "$WORK/wrong-magic.png" "$good" "$WORK/truncated.png" "$WORK/truncated.jpg" "$WORK/huge.png" \
    "$WORK/a-directory.png" "$WORK/missing.png" >"$WORK/hostile.out" 2>"$WORK/hostile.err"
status=$?
[[ $status == 1 ]] && pass "hostile files: exit status 1" || bad "hostile files: exit status $status (expected 1)"
[[ $(grep -c . "$WORK/hostile.out") == 1 ]] && grep -q "\"file\":\"$good\"" "$WORK/hostile.out" \
    && pass "the good file among them is still hashed" || bad "good file not hashed: $(cat "$WORK/hostile.out")"
for expected in "wrong-magic.png: not a PNG or JPEG file" "truncated.png: malformed PNG" "truncated.jpg: malformed JPEG" \
    "huge.png: image is 60000 x 60000 pixels, over the limit" "a-directory.png: not a regular file" "missing.png: cannot open"; do
    grep -q "$expected" "$WORK/hostile.err" && pass "refused with: $expected" || bad "no '$expected' in: $(cat "$WORK/hostile.err")"
done
[[ $(grep -c . "$WORK/hostile.err") == 6 ]] && pass "one line a refused file" || bad "stderr: $(cat "$WORK/hostile.err")"
finish
