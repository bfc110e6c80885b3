#!/usr/bin/env python3
"""PDQ agreement: greffe's Swift (`greffe image hash`) and JavaScript
(web/pdq.js under node) against Meta's reference as the `pdqhash` package
(PyPI) builds it, on generated images and their transformations.

  (a) identical pixels: every lossless file (PNG) is hashed by Swift from the
      file, and by pdqhash and pdq.js from the same RGB buffer (PIL's decode):
      hash and quality must be identical. For JPEG files the decoders differ
      (Debian's libjpeg-turbo for Swift, Pillow's own for the others), so
      pdqhash and pdq.js must be identical and Swift's distance is reported.
  (b) verdicts: on every pair (an original and each of its transformations,
      and every two unrelated originals), the three must agree on match /
      no match at Hamming distance <= 31.

Usage: pdq_agreement.py --greffe PATH --work DIR
Exit 0 when everything agrees; otherwise prints a table of the mismatches.
"""
import argparse
import itertools
import json
import math
import os
import subprocess
import sys

import numpy as np
import pdqhash
from PIL import Image, ImageDraw, ImageFilter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
THRESHOLD = 31


def reference_hex(rgb):
    vector, quality = pdqhash.compute(np.ascontiguousarray(rgb, dtype=np.uint8))
    # pdqhash returns the bits most significant first (hash_to_vector reverses
    # bit k = 0..255): packed, that is the reference's hex.
    return np.packbits(vector.astype(np.uint8)).tobytes().hex(), int(quality)


def distance(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


# ---------------------------------------------------------------- the corpus

def smooth_field(rng, h, w, terms=6):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    field = np.zeros((h, w))
    for _ in range(terms):
        fx, fy = rng.uniform(0.5, 4) / w, rng.uniform(0.5, 4) / h
        phase = rng.uniform(0, 2 * math.pi)
        field += rng.uniform(0.3, 1) * np.sin(2 * math.pi * (fx * x + fy * y) + phase)
    field -= field.min()
    return field / max(field.max(), 1e-9)


def to_image(array):
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "RGB")


def corpus():
    """(name, PIL image) pairs; deterministic."""
    rng = np.random.default_rng(20260519)
    images = []

    def add(name, image):
        images.append((name, image))

    for (w, h), kind in [((640, 480), "horizontal"), ((300, 300), "vertical"), ((1024, 768), "diagonal"), ((97, 211), "radial")]:
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        base = {"horizontal": x / w, "vertical": y / h, "diagonal": (x + y) / (w + h),
                "radial": np.hypot(x - w / 2, y - h / 2) / math.hypot(w / 2, h / 2)}[kind]
        add("gradient-%s-%dx%d" % (kind, w, h), to_image(np.stack([base * 255, (1 - base) * 200, base * 90 + 40], axis=2)))
    for i, (w, h) in enumerate([(512, 384), (400, 600), (800, 800), (333, 127)]):
        image = Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(image)
        for _ in range(12):
            box = sorted(rng.integers(0, w, 2)), sorted(rng.integers(0, h, 2))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            shape = rng.integers(0, 3)
            xy = [box[0][0], box[1][0], box[0][1], box[1][1]]
            if shape == 0:
                draw.rectangle(xy, fill=colour)
            elif shape == 1:
                draw.ellipse(xy, fill=colour)
            else:
                draw.polygon([tuple(int(v) for v in rng.integers(0, [w, h])) for _ in range(5)], fill=colour)
        add("shapes-%d-%dx%d" % (i, w, h), image)
    for i, (w, h) in enumerate([(256, 256), (640, 360)]):
        add("noise-uniform-%d-%dx%d" % (i, w, h), to_image(rng.integers(0, 256, (h, w, 3))))
    for i, (w, h) in enumerate([(500, 375), (1200, 900)]):
        noise = to_image(rng.integers(0, 256, (h, w, 3)))
        add("noise-blurred-%d-%dx%d" % (i, w, h), noise.filter(ImageFilter.GaussianBlur(radius=6 + 4 * i)))
    for i, (w, h) in enumerate([(600, 800), (480, 320), (900, 300)]):
        image = Image.new("RGB", (w, h), (250, 248, 240))
        draw = ImageDraw.Draw(image)
        line_height = 14 + 4 * i
        for top in range(10, h - line_height, line_height + 6):
            left = 12
            while left < w - 40:
                word = int(rng.integers(8, 70))
                draw.rectangle([left, top, min(left + word, w - 12), top + line_height - 4], fill=(20, 20, 30))
                left += word + int(rng.integers(6, 14))
        draw.text((15, h - 30), "Greffe PDQ %d" % i, fill=(200, 0, 0))
        add("text-like-%d-%dx%d" % (i, w, h), image)
    for i, (w, h) in enumerate([(1000, 750), (750, 1000), (640, 427), (1600, 900), (320, 240)]):
        sky, ground = smooth_field(rng, h, w), smooth_field(rng, h, w, terms=10)
        detail = rng.normal(0, 12, (h, w, 3))
        horizon = (np.arange(h)[:, None] > h * rng.uniform(0.3, 0.7)).astype(np.float64)
        base = (1 - horizon) * sky + horizon * ground
        rgb = np.stack([base * 180 + 40, base * 140 + 60 * horizon, (1 - base) * 200 + 30], axis=2) + detail * horizon[..., None]
        image = to_image(rgb)
        draw = ImageDraw.Draw(image)
        for _ in range(3):
            cx, cy, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(10, min(w, h) // 5))
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        add("photo-like-%d-%dx%d" % (i, w, h), image.filter(ImageFilter.GaussianBlur(radius=1)))
    checker = (np.indices((240, 320)).sum(axis=0) // 20 % 2) * 255
    add("checkerboard-320x240", to_image(np.stack([checker] * 3, axis=2)))
    stripes = (np.sin(np.arange(400) / 7.0)[None, :] * 127 + 128) * np.ones((200, 1))
    add("stripes-400x200", to_image(np.stack([stripes, stripes * 0.5, 255 - stripes], axis=2)))
    # The reference's own paths: exactly 64×64 (no filter), small, below 5 pixels (zero hash).
    add("exact-64x64", to_image(rng.integers(0, 256, (64, 64, 3))))
    add("tiny-20x12", to_image(rng.integers(0, 256, (12, 20, 3))))
    add("tiny-5x7", to_image(rng.integers(0, 256, (7, 5, 3))))
    add("below-minimum-4x9", to_image(rng.integers(0, 256, (9, 4, 3))))
    return images


def transformations(image):
    """(suffix, format, PIL image) pairs; JPEG ones are re-encoded, the others saved as PNG."""
    w, h = image.size
    out = [("jpeg95", "JPEG", 95, image), ("jpeg70", "JPEG", 70, image), ("jpeg50", "JPEG", 50, image)]
    out.append(("resize50", "PNG", None, image.resize((max(1, w // 2), max(1, h // 2)), Image.BILINEAR)))
    out.append(("resize150", "PNG", None, image.resize((w * 3 // 2, h * 3 // 2), Image.BICUBIC)))
    # 5% of the area, centred (1.27% off each side); and 5% of the width off one side.
    dx, dy = round(w * (1 - 0.95 ** 0.5) / 2), round(h * (1 - 0.95 ** 0.5) / 2)
    out.append(("crop5area", "PNG", None, image.crop((dx, dy, w - dx, h - dy))))
    out.append(("crop5side", "PNG", None, image.crop((0, 0, w - round(w * 0.05), h))))
    out.append(("mirror", "PNG", None, image.transpose(Image.FLIP_LEFT_RIGHT)))
    out.append(("rotate2", "PNG", None, image.rotate(2, resample=Image.BILINEAR, fillcolor=(0, 0, 0))))
    return out


# ---------------------------------------------------------------- hashing

def swift_hashes(greffe, paths):
    run = subprocess.run([greffe, "image", "hash"] + paths, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit("greffe image hash failed (%d): %s" % (run.returncode, run.stderr.strip()))
    result = {}
    for line in run.stdout.splitlines():
        record = json.loads(line)
        result[record["file"]] = (record["pdq"], record["pdq_quality"], record["sha256"])
    return result


def js_hashes(work, buffers):
    """buffers: name -> RGB array; pdq.js is given RGBA, as from a canvas."""
    manifest = []
    for name, rgb in buffers.items():
        path = os.path.join(work, name + ".rgba")
        h, w, _ = rgb.shape
        rgba = np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], axis=2)
        with open(path, "wb") as f:
            f.write(rgba.tobytes())
        manifest.append({"name": name, "path": path, "width": w, "height": h})
    manifest_path = os.path.join(work, "js-manifest.json")
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    script = """
const PDQ = require(process.argv[1]);
const fs = require('fs');
const out = {};
for (const item of JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))) {
  const r = PDQ.hash(new Uint8Array(fs.readFileSync(item.path)), item.width, item.height);
  out[item.name] = [r.hash, r.quality];
}
process.stdout.write(JSON.stringify(out));
"""
    run = subprocess.run(["node", "-e", script, os.path.join(ROOT, "web", "pdq.js"), manifest_path], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit("node web/pdq.js failed: " + run.stderr.strip())
    return {name: tuple(value) for name, value in json.loads(run.stdout).items()}


def table(title, header, rows):
    print("\n%s (%d)" % (title, len(rows)))
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    for row in [header] + rows:
        print("  " + "  ".join(str(c).ljust(wd) for c, wd in zip(row, widths)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--greffe", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)

    files = {}  # name -> (path, format, original name or None)
    for name, image in corpus():
        path = os.path.join(args.work, name + ".png")
        image.save(path)
        files[name] = (path, "PNG", None)
        if min(image.size) < 32:
            continue  # the tiny ones: identical-pixel checks only
        for suffix, fmt, quality, transformed in transformations(image):
            derived = "%s.%s" % (name, suffix)
            path = os.path.join(args.work, derived + (".jpg" if fmt == "JPEG" else ".png"))
            if fmt == "JPEG":
                transformed.save(path, "JPEG", quality=quality)
            else:
                transformed.save(path)
            files[derived] = (path, fmt, name)
    # The decoder's other PNG layouts: greyscale, palette, alpha (dropped, as PIL's convert("RGB") drops it).
    source = dict(corpus())["photo-like-4-320x240"]
    for mode in ["L", "P", "RGBA", "LA"]:
        path = os.path.join(args.work, "mode-%s.png" % mode)
        (source.convert(mode) if mode != "RGBA" else source.convert("RGBA")).save(path)
        files["mode-%s" % mode] = (path, "PNG", None)
    rgba = np.asarray(source.convert("RGBA")).copy()
    rgba[..., 3] = np.random.default_rng(3).integers(0, 256, rgba.shape[:2])
    path = os.path.join(args.work, "mode-RGBA-varying-alpha.png")
    Image.fromarray(rgba, "RGBA").save(path)
    files["mode-RGBA-varying-alpha"] = (path, "PNG", None)

    rgb = {name: np.asarray(Image.open(path).convert("RGB")) for name, (path, _, _) in files.items()}
    reference = {name: reference_hex(buffer) for name, buffer in rgb.items()}
    javascript = js_hashes(args.work, rgb)
    swift_by_path = swift_hashes(args.greffe, [path for path, _, _ in files.values()])
    swift = {name: swift_by_path[path][:2] for name, (path, _, _) in files.items()}

    failures = 0
    identical_rows, jpeg_rows = [], []
    lossless = [n for n, (_, fmt, _) in files.items() if fmt == "PNG"]
    for name in sorted(files):
        ref, js, sw = reference[name], javascript[name], swift[name]
        if js != ref or (name in lossless and sw != ref):
            identical_rows.append([name, ref[0][:16] + "…", ref[1], js[0][:16] + "…", js[1], sw[0][:16] + "…", sw[1],
                                   distance(ref[0], js[0]), distance(ref[0], sw[0])])
        if name not in lossless:
            jpeg_rows.append((name, distance(ref[0], sw[0]), ref[1] - sw[1]))
    if identical_rows:
        failures += len(identical_rows)
        table("MISMATCH on identical pixels", ["image", "pdqhash", "q", "pdq.js", "q", "swift", "q", "d(ref,js)", "d(ref,swift)"], identical_rows)

    pairs = [(files[n][2], n) for n in files if files[n][2] is not None]
    originals = [n for n in files if files[n][2] is None and not n.startswith("mode-") and reference[n][1] > 0]
    pairs += list(itertools.combinations(originals, 2))
    verdict_rows = []
    matches = 0
    for a, b in pairs:
        d = {impl: distance(hashes[a][0], hashes[b][0]) for impl, hashes in [("ref", reference), ("js", javascript), ("swift", swift)]}
        verdicts = {impl: value <= THRESHOLD for impl, value in d.items()}
        matches += verdicts["ref"]
        if len(set(verdicts.values())) != 1:
            verdict_rows.append([a, b, d["ref"], d["js"], d["swift"]])
    if verdict_rows:
        failures += len(verdict_rows)
        table("MISMATCH of match/no-match verdicts at distance <= %d" % THRESHOLD, ["image", "other", "d pdqhash", "d pdq.js", "d swift"], verdict_rows)

    exact_jpeg = sum(1 for _, d, dq in jpeg_rows if d == 0 and dq == 0)
    print("pdq agreement: %d files (%d lossless: identical hash and quality required of Swift, pdq.js, pdqhash); "
          "%d JPEG files: pdq.js = pdqhash on Pillow's pixels, Swift (Debian libjpeg-turbo) identical on %d, max distance %d"
          % (len(files), len(lossless), len(jpeg_rows), exact_jpeg, max((d for _, d, _ in jpeg_rows), default=0)))
    print("pdq agreement: %d pairs (%d transformation pairs, %d unrelated), %d matches at <= %d per pdqhash, verdicts %s"
          % (len(pairs), sum(1 for n in files if files[n][2]), len(pairs) - sum(1 for n in files if files[n][2]), matches, THRESHOLD,
             "agree on every pair" if not verdict_rows else "DISAGREE on %d" % len(verdict_rows)))
    # What PDQ itself makes of each transformation (informative: mirroring is expected to miss).
    tally = {}
    for a, b in pairs:
        if files[b][2] is None:
            if distance(reference[a][0], reference[b][0]) <= THRESHOLD:
                tally.setdefault("unrelated", [0, 0])[0] += 1
            tally.setdefault("unrelated", [0, 0])[1] += 1
            continue
        kind = b.split(".", 1)[1]
        tally.setdefault(kind, [0, 0])[1] += 1
        tally[kind][0] += distance(reference[a][0], reference[b][0]) <= THRESHOLD
    print("pdq agreement: matches at <= %d by pdqhash, per transformation: %s"
          % (THRESHOLD, ", ".join("%s %d/%d" % (k, v[0], v[1]) for k, v in sorted(tally.items()))))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
