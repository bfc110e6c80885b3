'use strict';
// PDQ, Meta's perceptual image hash, in the browser: a port of
// Sources/GreffeImage/PDQ.swift, itself the reference (ThreatExchange
// pdq/cpp, as the `pdqhash` package builds and calls it) step by step.
// Identical pixels must give identical bits in all three (ops/tests/pdq.sh),
// so every value the reference holds as a C float is rounded to float32
// here (Math.fround, Float32Array) after each operation, in the reference's
// order; one float32 operation computed in float64 and then rounded gives
// the same result, since float64 has more than twice float32's precision.
// The luminance is computed in float64 and rounded once, as pdqhash does.
//
// GreffePDQ.hash(rgba, width, height) takes RGBA bytes (a canvas's
// getImageData().data; alpha is ignored) and returns
// { hash: 64 lowercase hex digits, quality: 0…100 }. The caller decides how
// pixels are decoded: the reference does not apply EXIF orientation.
const GreffePDQ = (function () {
  const MIN_SIDE = 5;
  const JAROSZ_PASSES = 2;
  const f32 = Math.fround;

  // dct_matrix_64: rows 1…16 of the 64-point DCT-II; scale √(2/64) as a
  // float, each product in double, stored as float.
  const DCT = (function () {
    const scale = f32(Math.sqrt(2.0 / 64.0));
    const matrix = new Float32Array(16 * 64);
    for (let i = 0; i < 16; i++) {
      for (let j = 0; j < 64; j++) {
        matrix[i * 64 + j] = scale * Math.cos((Math.PI / 2.0 / 64.0) * (i + 1) * (2 * j + 1));
      }
    }
    return matrix;
  })();

  function windowSize(oldDimension, newDimension) {
    return Math.floor((oldDimension + 2 * newDimension - 1) / (2 * newDimension));
  }

  // box1DFloat: running-sum box filter, window shrinking at both ends.
  function box1D(input, inBase, output, outBase, length, stride, window) {
    const half = Math.floor((window + 2) / 2);
    const phase1 = half - 1, phase2 = window - half + 1, phase3 = length - window, phase4 = half - 1;
    let left = inBase, right = inBase, out = outBase, sum = 0, current = 0;
    for (let i = 0; i < phase1; i++) {
      sum = f32(sum + input[right]);
      current++;
      right += stride;
    }
    for (let i = 0; i < phase2; i++) {
      sum = f32(sum + input[right]);
      current++;
      output[out] = sum / current;
      right += stride;
      out += stride;
    }
    for (let i = 0; i < phase3; i++) {
      sum = f32(sum + input[right]);
      sum = f32(sum - input[left]);
      output[out] = sum / current;
      left += stride;
      right += stride;
      out += stride;
    }
    for (let i = 0; i < phase4; i++) {
      sum = f32(sum - input[left]);
      current--;
      output[out] = sum / current;
      left += stride;
      out += stride;
    }
  }

  // pdqImageDomainQualityMetric: quantised gradients of the 64×64 image.
  function quality(block) {
    let gradientSum = 0;
    for (let i = 0; i < 63; i++) {
      for (let j = 0; j < 64; j++) {
        gradientSum += Math.abs(Math.trunc(f32(f32(f32(block[i * 64 + j] - block[(i + 1) * 64 + j]) * 100) / 255)));
      }
    }
    for (let i = 0; i < 64; i++) {
      for (let j = 0; j < 63; j++) {
        gradientSum += Math.abs(Math.trunc(f32(f32(f32(block[i * 64 + j] - block[i * 64 + j + 1]) * 100) / 255)));
      }
    }
    return Math.min(Math.floor(gradientSum / 90), 100);
  }

  // dct64To16: B = D A Dᵀ through T = D A, float sums in index order.
  function dct64To16(a) {
    const t = new Float32Array(16 * 64);
    for (let i = 0; i < 16; i++) {
      for (let j = 0; j < 64; j++) {
        let sum = 0;
        for (let k = 0; k < 64; k++) sum = f32(sum + f32(DCT[i * 64 + k] * a[k * 64 + j]));
        t[i * 64 + j] = sum;
      }
    }
    const b = new Float32Array(16 * 16);
    for (let i = 0; i < 16; i++) {
      for (let j = 0; j < 16; j++) {
        let sum = 0;
        for (let k = 0; k < 64; k++) sum = f32(sum + f32(t[i * 64 + k] * DCT[j * 64 + k]));
        b[i * 16 + j] = sum;
      }
    }
    return b;
  }

  // torben: Torben Mogensen's median (N. Devillard's code, as the reference).
  function torben(m) {
    const n = m.length;
    let min = m[0], max = m[0];
    for (let i = 1; i < n; i++) {
      if (m[i] < min) min = m[i];
      if (m[i] > max) max = m[i];
    }
    let guess, less, greater, equal, maxLessThanGuess, minGreaterThanGuess;
    for (;;) {
      guess = f32(f32(min + max) / 2);
      less = 0;
      greater = 0;
      equal = 0;
      maxLessThanGuess = min;
      minGreaterThanGuess = max;
      for (let i = 0; i < n; i++) {
        if (m[i] < guess) {
          less++;
          if (m[i] > maxLessThanGuess) maxLessThanGuess = m[i];
        } else if (m[i] > guess) {
          greater++;
          if (m[i] < minGreaterThanGuess) minGreaterThanGuess = m[i];
        } else {
          equal++;
        }
      }
      if (less <= Math.floor((n + 1) / 2) && greater <= Math.floor((n + 1) / 2)) break;
      if (less > greater) max = maxLessThanGuess;
      else min = minGreaterThanGuess;
    }
    if (less >= Math.floor((n + 1) / 2)) return maxLessThanGuess;
    if (less + equal >= Math.floor((n + 1) / 2)) return guess;
    return minGreaterThanGuess;
  }

  // Bit k (coefficient k above the median) is bit k of the 256-bit number
  // whose hex the reference writes (Hash256::format): most significant first.
  function toHex(coefficients, median) {
    let hex = '';
    for (let nibble = 63; nibble >= 0; nibble--) {
      let value = 0;
      for (let bit = 3; bit >= 0; bit--) value = (value << 1) | (coefficients[nibble * 4 + bit] > median ? 1 : 0);
      hex += value.toString(16);
    }
    return hex;
  }

  function hashLuma(luma, width, height) {
    let block;
    if (width === 64 && height === 64) {
      block = luma;
    } else {
      const scratch = new Float32Array(width * height);
      const alongRows = windowSize(width, 64), alongColumns = windowSize(height, 64);
      for (let pass = 0; pass < JAROSZ_PASSES; pass++) {
        for (let row = 0; row < height; row++) box1D(luma, row * width, scratch, row * width, width, 1, alongRows);
        for (let column = 0; column < width; column++) box1D(scratch, column, luma, column, height, width, alongColumns);
      }
      block = new Float32Array(64 * 64);
      for (let outRow = 0; outRow < 64; outRow++) {
        const inRow = Math.trunc(((outRow + 0.5) * height) / 64);
        for (let outColumn = 0; outColumn < 64; outColumn++) {
          const inColumn = Math.trunc(((outColumn + 0.5) * width) / 64);
          block[outRow * 64 + outColumn] = luma[inRow * width + inColumn];
        }
      }
    }
    const coefficients = dct64To16(block);
    return { hash: toHex(coefficients, torben(coefficients)), quality: quality(block) };
  }

  // RGBA bytes (4 a pixel, row-major) → { hash, quality }.
  function hash(rgba, width, height) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0 || rgba.length !== width * height * 4) {
      throw new RangeError('PDQ: the pixel buffer does not hold width × height RGBA pixels');
    }
    if (width < MIN_SIDE || height < MIN_SIDE) return { hash: '0'.repeat(64), quality: 0 };
    const luma = new Float32Array(width * height);
    for (let i = 0, p = 0; i < luma.length; i++, p += 4) {
      luma[i] = rgba[p] * 0.299 + rgba[p + 1] * 0.587 + rgba[p + 2] * 0.114;
    }
    return hashLuma(luma, width, height);
  }

  // Hamming distance between two hashes' hex (each 64 hex digits).
  function distance(a, b) {
    let bits = 0;
    for (let i = 0; i < 64; i++) {
      let x = parseInt(a[i], 16) ^ parseInt(b[i], 16);
      for (; x; x &= x - 1) bits++;
    }
    return bits;
  }

  return { hash, distance, MATCH_THRESHOLD: 31 };
})();
if (typeof module !== 'undefined') module.exports = GreffePDQ;
