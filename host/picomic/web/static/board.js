// One board's panel: meter, VAD, waveform, spectrogram, link health and transcript.
import { Spectrogram, Waveform } from "./scope.js";

const LINK_FIELDS = [
  ["frames_per_s", "frames/s"], ["crc_errors", "CRC errors"], ["lost_frames", "lost"],
  ["clock_drift_ppm", "drift ppm"], ["audio_lag_ms", "lag ms"], ["reconnects", "reconnects"],
  ["resyncs", "resyncs"], ["device_dropped", "device drops"], ["i2s_overruns", "overruns"],
  ["dropped_chunks", "bus drops"], ["web_dropped", "page drops"],
];
const BAD_IF_NONZERO = new Set(["crc_errors", "lost_frames", "device_dropped", "i2s_overruns", "dropped_chunks", "web_dropped"]);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

function clock(wall) {  // "2026-12-01T23:59:01.123+00:00" → local "23:59:01"
  const d = new Date(wall);
  return isNaN(d) ? "" : d.toLocaleTimeString([], { hour12: false });
}

function stamp(s) {
  const m = Math.floor(s / 60), r = s - 60 * m;
  return `${String(m).padStart(2, "0")}:${r.toFixed(1).padStart(4, "0")}`;
}

export class BoardView {
  constructor(root, boardId) {
    this.boardId = boardId;
    this.section = el("section", { class: "board", "data-board": boardId });
    this.title = el("h2", {}, boardId ? `board ${boardId}` : "board", el("span", { class: "info" }));
    this.fill = el("div", { class: "fill" });
    this.hold = el("div", { class: "hold" });
    this.dbfs = el("span", { class: "num", "data-field": "rms_dbfs" }, "— dBFS");
    this.spl = el("span", { class: "num", "data-field": "db_spl" }, "— dB SPL");
    this.peak = el("span", { class: "num", "data-field": "peak_hold_dbfs" }, "peak —");
    this.clip = el("span", { class: "clip", "data-field": "clipping", "data-on": "false" }, "CLIP");
    this.stream = el("span", { class: "num", "data-field": "stream" }, "");
    this.vad = el("span", { class: "vad", "data-field": "vad", "data-speech": "false" }, "silence");
    const meterRow = el("div", { class: "row" }, el("div", { class: "meter" }, this.fill, this.hold),
                        this.dbfs, this.spl, this.peak, this.clip, this.stream, this.vad);
    const wave = el("canvas", { class: "waveform", width: "800", height: "110" });
    const spec = el("canvas", { class: "spectrogram", width: "800", height: "160" });
    this.waveform = new Waveform(wave);
    this.spectrogram = new Spectrogram(spec);
    this.link = el("div", { class: "link" });
    this.values = {};
    for (const [key, label] of LINK_FIELDS) {
      const v = el("span", { class: "v", "data-field": key }, "—");
      this.values[key] = v;
      this.link.append(el("div", {}, el("label", {}, label), v));
    }
    this.transcript = el("div", { class: "transcript" });
    this.partial = el("div", { class: "partial" });
    this.transcript.append(this.partial);
    this.message = el("div", { class: "message" });
    this.section.append(this.title, meterRow, wave, spec, this.link, this.transcript, this.message);
    root.append(this.section);
    this.lastStatus = null;
    this.levelUpdates = 0;
  }

  audio(message) {
    this.waveform.push(message.samples, message.sampleRate);
    this.spectrogram.push(message.samples, message.sampleRate);
  }

  draw() {
    this.waveform.draw();
    this.spectrogram.draw();
  }

  level(m) {
    const pct = (db) => Math.max(0, Math.min(100, (db + 60) / 60 * 100));
    this.fill.style.width = `${pct(m.rms_dbfs)}%`;
    this.hold.style.left = `calc(${pct(m.peak_hold_dbfs)}% - 2px)`;
    this.dbfs.textContent = `${m.rms_dbfs.toFixed(1)} dBFS`;
    this.spl.textContent = `${m.db_spl.toFixed(1)} dB SPL`;
    this.peak.textContent = `peak ${m.peak_hold_dbfs.toFixed(1)}`;
    this.clip.dataset.on = String(m.clipping);
    this.stream.textContent = m.stream && m.stream !== "raw" ? `(${m.stream})` : "";  // a stage's stream
    this.levelUpdates += 1;
    this.section.dataset.levelUpdates = String(this.levelUpdates);
  }

  setLink(key, value, digits = 0) {
    const node = this.values[key];
    if (!node || value === undefined || value === null) return;
    node.textContent = typeof value === "number" ? value.toFixed(digits) : String(value);
    node.classList.toggle("bad", BAD_IF_NONZERO.has(key) && Number(value) > 0);
  }

  status(s) {
    const at = Date.parse(s.wall);  // the host's clock when it took the snapshot: no delivery jitter
    const last = this.lastStatus;
    if (last && at - last.at >= 500 && s.frames >= last.frames) {
      this.setLink("frames_per_s", (s.frames - last.frames) / ((at - last.at) / 1000));
    }
    if (!last || at - last.at >= 500 || s.frames < last.frames) this.lastStatus = { at, frames: s.frames };
    for (const key of ["crc_errors", "lost_frames", "reconnects", "resyncs", "device_dropped", "i2s_overruns", "dropped_chunks"]) {
      this.setLink(key, s[key]);
    }
    this.setLink("clock_drift_ppm", s.clock_drift_ppm, 1);
    this.setLink("audio_lag_ms", s.audio_lag_ms, 1);
  }

  device(d) {
    const parts = [["board", ""], ["fw", "fw "], ["mpy", "MicroPython "], ["uid", "uid "]]
      .filter(([k]) => d[k] !== undefined).map(([k, label]) => label + String(d[k]).slice(0, 64));
    this.title.querySelector(".info").textContent = " — " + parts.join(", ");
  }

  vadEvent(v) {
    const speech = v.event === "start";
    this.vad.dataset.speech = String(speech);
    this.vad.textContent = speech ? "speech" : "silence";
  }

  transcriptEvent(t) {
    if (!t.final) {
      this.partial.textContent = "… " + t.text;
      return;
    }
    const line = el("div", { class: "final" },
      el("span", { class: "t" }, `[${stamp(t.start_s)}–${stamp(t.end_s)}]`),
      el("span", { class: "wall" }, clock(t.wall)), el("span", { class: "text" }, t.text));
    this.transcript.insertBefore(line, this.partial);
    this.partial.textContent = "";
    while (this.transcript.children.length > 201) this.transcript.removeChild(this.transcript.firstChild);
    this.transcript.scrollTop = this.transcript.scrollHeight;
  }

  show(text) { this.message.textContent = text; }

  restarted() {  // a new server run: its counters start again from zero
    this.lastStatus = null;
    this.show("server restarted");
  }
}
