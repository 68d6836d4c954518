// Scrolling waveform and spectrogram on canvases. Audio is pushed as it arrives; drawing happens once per
// animation frame (each canvas shifts left by the columns completed since the last frame).

const HISTORY_S = 8;  // seconds across the canvas width

export class Waveform {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.columns = [];  // completed [min, max] columns not drawn yet
    this.rate = 0;
    this.perColumn = 1;
    this.count = 0; this.lo = 1; this.hi = -1;
    this.clear();
  }
  clear() {
    this.ctx.fillStyle = "#0b0f14";
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
  }
  push(samples, rate) {
    if (rate !== this.rate) { this.rate = rate; this.perColumn = Math.max(1, Math.round(rate * HISTORY_S / this.canvas.width)); }
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i];
      if (s < this.lo) this.lo = s;
      if (s > this.hi) this.hi = s;
      if (++this.count >= this.perColumn) {
        this.columns.push([this.lo, this.hi]);
        this.count = 0; this.lo = 1; this.hi = -1;
      }
    }
    if (this.columns.length > this.canvas.width) this.columns.splice(0, this.columns.length - this.canvas.width);
  }
  draw() {
    const n = this.columns.length;
    if (!n) return;
    const { canvas, ctx } = this;
    const w = canvas.width, h = canvas.height, mid = h / 2;
    ctx.drawImage(canvas, n, 0, w - n, h, 0, 0, w - n, h);
    ctx.fillStyle = "#0b0f14";
    ctx.fillRect(w - n, 0, n, h);
    ctx.fillStyle = "#4fc3f7";
    for (let i = 0; i < n; i++) {
      const [lo, hi] = this.columns[i];
      const top = mid - hi * mid, bottom = mid - lo * mid;
      ctx.fillRect(w - n + i, top, 1, Math.max(1, bottom - top));
    }
    this.columns = [];
  }
}

// Iterative radix-2 FFT of a real frame (length a power of two): magnitudes of bins 0..n/2-1.
export class FFT {
  constructor(n) {
    this.n = n;
    this.re = new Float32Array(n); this.im = new Float32Array(n);
    this.window = new Float32Array(n);
    for (let i = 0; i < n; i++) this.window[i] = 0.5 - 0.5 * Math.cos(2 * Math.PI * i / (n - 1));  // Hann
    this.rev = new Uint32Array(n);
    const bits = Math.log2(n);
    for (let i = 0; i < n; i++) { let r = 0; for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b); this.rev[i] = r; }
    this.cos = new Float32Array(n / 2); this.sin = new Float32Array(n / 2);
    for (let i = 0; i < n / 2; i++) { this.cos[i] = Math.cos(-2 * Math.PI * i / n); this.sin[i] = Math.sin(-2 * Math.PI * i / n); }
  }
  magnitudes(frame, out) {
    const { n, re, im, rev } = this;
    for (let i = 0; i < n; i++) { re[rev[i]] = frame[i] * this.window[i]; im[rev[i]] = 0; }
    for (let size = 2; size <= n; size *= 2) {
      const half = size / 2, step = n / size;
      for (let start = 0; start < n; start += size) {
        for (let k = 0; k < half; k++) {
          const c = this.cos[k * step], s = this.sin[k * step];
          const a = start + k, b = a + half;
          const tr = re[b] * c - im[b] * s, ti = re[b] * s + im[b] * c;
          re[b] = re[a] - tr; im[b] = im[a] - ti; re[a] += tr; im[a] += ti;
        }
      }
    }
    for (let i = 0; i < n / 2; i++) out[i] = Math.hypot(re[i], im[i]) * 4 / n;  // Hann: amplitude 1 → about 1
    return out;
  }
}

function colormap() {  // dark blue → purple → orange → yellow, 256 entries of [r, g, b]
  const stops = [[0, [11, 15, 20]], [0.3, [59, 15, 112]], [0.6, [188, 55, 84]], [0.85, [249, 142, 9]], [1, [252, 255, 164]]];
  const lut = [];
  for (let i = 0; i < 256; i++) {
    const x = i / 255;
    let j = 0; while (j < stops.length - 2 && x > stops[j + 1][0]) j++;
    const [x0, c0] = stops[j], [x1, c1] = stops[j + 1], t = (x - x0) / (x1 - x0);
    lut.push(c0.map((v, k) => Math.round(v + (c1[k] - v) * t)));
  }
  return lut;
}
const LUT = colormap();
const FLOOR_DB = -100, TOP_DB = -20;

export class Spectrogram {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.rate = 0;
    this.pending = [];  // completed columns (Uint8ClampedArray RGBA, height × 4) not drawn yet
    this.ctx.fillStyle = "#0b0f14";
    this.ctx.fillRect(0, 0, canvas.width, canvas.height);
  }
  configure(rate) {
    this.rate = rate;
    this.n = 2 ** Math.round(Math.log2(rate * 0.032));  // about 32 ms: 512 at 16 kHz
    this.hop = Math.max(1, Math.min(this.n, Math.round(rate * HISTORY_S / this.canvas.width)));  // the waveform's pace
    this.fft = new FFT(this.n);
    this.buffer = new Float32Array(this.n);
    this.filled = 0;
    this.mags = new Float32Array(this.n / 2);
  }
  push(samples, rate) {
    if (rate !== this.rate) this.configure(rate);
    for (let i = 0; i < samples.length; i++) {
      this.buffer[this.filled++] = samples[i];
      if (this.filled === this.n) {
        this.pending.push(this.column(this.fft.magnitudes(this.buffer, this.mags)));
        this.buffer.copyWithin(0, this.hop);
        this.filled = this.n - this.hop;
      }
    }
    if (this.pending.length > this.canvas.width) this.pending.splice(0, this.pending.length - this.canvas.width);
  }
  column(mags) {  // low frequencies at the bottom
    const h = this.canvas.height, bins = mags.length, px = new Uint8ClampedArray(h * 4);
    for (let y = 0; y < h; y++) {
      const bin = Math.min(bins - 1, Math.floor((h - 1 - y) * bins / h));
      const db = 20 * Math.log10(mags[bin] + 1e-12);
      const v = Math.max(0, Math.min(255, Math.round(255 * (db - FLOOR_DB) / (TOP_DB - FLOOR_DB))));
      const [r, g, b] = LUT[v];
      px[y * 4] = r; px[y * 4 + 1] = g; px[y * 4 + 2] = b; px[y * 4 + 3] = 255;
    }
    return px;
  }
  draw() {
    const n = this.pending.length;
    if (!n) return;
    const { canvas, ctx } = this;
    const w = canvas.width, h = canvas.height;
    ctx.drawImage(canvas, n, 0, w - n, h, 0, 0, w - n, h);
    const image = ctx.createImageData(n, h);
    for (let i = 0; i < n; i++) {
      const col = this.pending[i];
      for (let y = 0; y < h; y++) image.data.set(col.subarray(y * 4, y * 4 + 4), (y * n + i) * 4);
    }
    ctx.putImageData(image, w - n, 0);
    this.pending = [];
  }
}
