#!/usr/bin/env bash
# libFuzzer over the parsers that take hostile input (harnesses in Tests/Fuzz,
# each asserting round-trip invariants, not only "no crash"):
#   FuzzEntry     ledger entries and entry bundles (decode → encode is the identity)
#   FuzzNote      signed notes, checkpoints, CheckpointVerifier (one spelling each;
#                 nothing but the vector bodies verifies under the vector key)
#   FuzzTilePath  tile paths (a path parses only as its tile's own path)
#   FuzzJSON      the strict JSON parser, RFC 8785 canonicalization, event schemas
#                 (the parser accepts what it canonicalizes, to the same value)
#   FuzzBundle    evidence bundles and BundleVerifier (parse → encode → parse)
#
# Builds them in .build-fuzz (release, -sanitize=fuzzer,address; the products
# exist only with GREFFE_FUZZ=1, see Package.swift), seeds each corpus from
# Tests/Fuzz/corpus, /work/shared/testvectors and Schemas/events/examples, runs
# each target for SECONDS, and prints executions and crashes per target.
# Corpora grow in .build-fuzz/corpus between runs; crashing inputs are kept in
# .build-fuzz/crashes. Not part of ops/test.sh.
#
# Usage: ops/fuzz.sh [SECONDS per target, default 60] [TARGET…]
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(FuzzEntry FuzzNote FuzzTilePath FuzzJSON FuzzBundle)
SCRATCH=.build-fuzz
VECTORS=${VECTORS:-/work/shared/testvectors}

mkdir -p "$SCRATCH/logs"
for target in "${TARGETS[@]}"; do
    echo "building $target"
    GREFFE_FUZZ=1 swift build -c release --scratch-path "$SCRATCH" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library --product "$target" >"$SCRATCH/logs/$target.build.log" 2>&1 \
        || { tail -n 20 "$SCRATCH/logs/$target.build.log"; echo "fuzz: build of $target failed"; exit 1; }
done

# Seeds: the committed ones, plus what the vectors and examples hold, split per target.
python3 - "$SCRATCH/corpus" "$VECTORS" <<'PY'
import base64, glob, hashlib, json, os, shutil, sys
out, vectors = sys.argv[1], sys.argv[2]
def put(target, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    data = data if isinstance(data, bytes) else data.encode()
    with open(os.path.join(out, target, "seed-" + hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)
for target, folder in [("FuzzEntry", "entry"), ("FuzzNote", "note"), ("FuzzTilePath", "tile"), ("FuzzJSON", "json"), ("FuzzBundle", "bundle")]:
    for path in glob.glob("Tests/Fuzz/corpus/%s/*" % folder):
        put(target, open(path, "rb").read())
# Entries: each entry of the committed entry bundles on its own.
for path in glob.glob("Tests/Fuzz/corpus/entry/*"):
    data, i = open(path, "rb").read(), 0
    while i + 2 <= len(data):
        n = data[i] << 8 | data[i + 1]
        put("FuzzEntry", data[i + 2:i + 2 + n]); i += 2 + n
# Event examples: JSON seeds, and a batch of them.
examples = [open(p, "rb").read() for p in sorted(glob.glob("Schemas/events/examples/*/*.json"))]
for e in examples: put("FuzzJSON", e)
valid = [json.loads(open(p).read()) for p in sorted(glob.glob("Schemas/events/examples/*/valid-*.json"))]
put("FuzzJSON", json.dumps({"events": valid[:5]}))
# Bundles: the committed ones also seed the JSON parser.
for path in glob.glob("Tests/Fuzz/corpus/bundle/*"): put("FuzzJSON", open(path, "rb").read())
if os.path.isdir(vectors):
    for p in sorted(glob.glob(os.path.join(vectors, "rfc8785/input/*.json"))): put("FuzzJSON", open(p, "rb").read())
    v = json.load(open(os.path.join(vectors, "rfc9162-seed1.json")))
    for n in v["checkpoints"]["notes"]:
        put("FuzzNote", n["note"]); put("FuzzNote", n["note"].split("\n\n")[0] + "\n")
    for t in v["tiles"]:
        for path, data in t["tiles"].items():
            put("FuzzTilePath", path); put("FuzzTilePath", "/" + path)
            if "/entries/" in path: put("FuzzEntry", base64.b64decode(data))
    for e in v["entries"][:20]: put("FuzzEntry", base64.b64decode(e))
else:
    print("fuzz: no test vectors at %s; committed seeds only" % vectors)
PY

printf '\n%-13s %8s %12s %10s %8s %8s\n' target seconds executions "exec/s" corpus crashes
TOTAL_CRASHES=0
mkdir -p "$SCRATCH/crashes" "$SCRATCH/logs"
for target in "${TARGETS[@]}"; do
    log=$SCRATCH/logs/$target.log
    before=$(ls "$SCRATCH/crashes" | grep -c "^$target-" || true)
    # -timeout: an input taking 10 s is a hang, kept like a crash. Leak detection is
    # off: one-time global state (the compiled event schemas) reads as a leak at exit.
    ASAN_OPTIONS=detect_leaks=0 "$SCRATCH/release/$target" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -detect_leaks=0 \
        -print_final_stats=1 -artifact_prefix="$SCRATCH/crashes/$target-" "$SCRATCH/corpus/$target" >"$log" 2>&1
    rc=$?
    after=$(ls "$SCRATCH/crashes" | grep -c "^$target-" || true)
    crashes=$((after - before))
    [[ $rc == 0 || $crashes -gt 0 ]] || crashes="exit $rc"
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | tail -n 1 | grep -Eo '[0-9]+$')
    speed=$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "$log" | tail -n 1 | grep -Eo '[0-9]+$')
    corpus=$(ls "$SCRATCH/corpus/$target" | wc -l)
    printf '%-13s %8s %12s %10s %8s %8s\n' "$target" "$SECONDS_PER_TARGET" "${execs:-?}" "${speed:-?}" "$corpus" "$crashes"
    if [[ $crashes != 0 ]]; then
        TOTAL_CRASHES=$((TOTAL_CRASHES + 1))
        grep -m3 -E 'invariant|Fatal error|ERROR: AddressSanitizer|deadly signal|SUMMARY' "$log" | sed 's/^/    /'
        ls "$SCRATCH/crashes" | grep "^$target-" | sed "s|^|    input: $SCRATCH/crashes/|"
    fi
done
echo "fuzz: ${#TARGETS[@]} targets, $TOTAL_CRASHES with crashes (logs in $SCRATCH/logs)"
[[ $TOTAL_CRASHES == 0 ]]
