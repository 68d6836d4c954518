// picomic's emulated Pico: the official MicroPython rp2 UF2 running in rp2040js.
//
//   node pico.mjs --bootrom B --uf2 U --flash F [--words SOCK] [--sck 16 --ws 17 --sd 18] [--flash-size 2097152]
//
//   fd 3    USB CDC data, both ways, binary-safe (one end of a socketpair held by the Python side)
//   stdout  JSON-line events: boot, usb, reset, stats, i2s, error
//   stdin   JSON-line commands: stop, reset, stats
//
// rp2040js 1.4.1 has three gaps for this use; each is closed below, in the harness, without touching
// MicroPython or rp2040js:
//   GAP 1 (PIO timing)   rp2040js runs PIO from its own setTimeout loop, ignoring CLKDIV and the simulation
//                        clock. Closed in "PIO stepping": the stock loop is disabled and every enabled state
//                        machine is stepped from a simulation-clock alarm, by the instructions CLKDIV owes.
//   GAP 2 (USB idle)     rp2040js answers every armed CDC OUT buffer after 10 µs with 0 bytes, so the CPU never
//                        sleeps. Closed in "USB CDC bridge": an OUT read is parked until the host really writes
//                        (a real host NAKs).
//   GAP 3 (flash writes) rp2040js has no flash-programming model. Closed in "Flash": the ROM's range-erase and
//                        range-program become breakpoints served against the flash array, the other flash ROM
//                        functions (IF, EX, FC, CX) become `bx lr`; the flash is saved back to F.
// Not modelled by rp2040js and modelled here: machine.reset() / the watchdog (a fresh RP2040 is built from the
// saved flash), the INMP441 microphone, pacing to wall-clock time.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

// rp2040js comes from the install dir (`picomic emulator install`, npm ci into the user's cache), named by
// --modules; without it, from a node_modules folder beside this file.
const modulesArg = process.argv.indexOf('--modules');
const { GPIOPinState, RP2040, USBCDC } = await (modulesArg > 0
  ? import(pathToFileURL(path.join(process.argv[modulesArg + 1], 'rp2040js/dist/esm/index.js')).href)
  : import('rp2040js'));

const FLASH_BASE = 0x10000000;
const UF2_FAMILY_RP2040 = 0xe48bff56;
const STANDARD_RATES = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000];
const PIO_TICK_NS = 4000; // GAP 1: PIO stepped every 4 µs of emulated time
const FLASH_SETTLE_MS = 500; // GAP 3: save the flash this long (wall) after the last erase/program
const I2S_IDLE_NS = 3e6; // SCK idle this long (emulated): the I2S session is over
const SLICE_WALL_MS = 10; // run this long before letting Node serve I/O
const BKPT_ERASE = 0xe0;
const BKPT_PROGRAM = 0xe1;

// ------------------------------------------------------------------------------------------- events

function emit(event) {
  fs.writeSync(1, JSON.stringify(event) + '\n');
}

function fatal(message, code = 1) {
  emit({ event: 'error', message });
  shutdown(code);
}

// Anything rp2040js prints goes to stderr: stdout carries only the JSON events.
for (const name of ['log', 'info', 'debug', 'warn']) {
  console[name] = (...args) => process.stderr.write(args.join(' ') + '\n');
}

/** rp2040js logger: warnings (rate-limited) to stderr, errors are fatal (reported with the PC). */
class HarnessLogger {
  constructor() {
    this.warnings = 0;
  }
  debug() {}
  info() {}
  warn(component, message) {
    if (message.includes('is not implemented yet')) {
      throw new Error(`core fault: ${message}`);
    }
    this.warnings += 1;
    if (this.warnings <= 20 || this.warnings % 10000 === 0) {
      process.stderr.write(`rp2040js warning #${this.warnings} [${component}] ${message}\n`);
    }
  }
  error(component, message) {
    throw new Error(`[${component}] ${message}`);
  }
}

// ---------------------------------------------------------------------------------------- arguments

function parseOptions() {
  const { values } = parseArgs({
    options: {
      bootrom: { type: 'string' },
      uf2: { type: 'string' },
      flash: { type: 'string' },
      words: { type: 'string' },
      modules: { type: 'string' },
      sck: { type: 'string', default: '16' },
      ws: { type: 'string', default: '17' },
      sd: { type: 'string', default: '18' },
      'flash-size': { type: 'string', default: String(2 * 1024 * 1024) },
    },
  });
  for (const name of ['bootrom', 'uf2', 'flash']) {
    if (!values[name]) {
      throw new Error(`--${name} is required`);
    }
  }
  return {
    bootrom: values.bootrom,
    uf2: values.uf2,
    flash: values.flash,
    words: values.words ?? null,
    pins: { sck: Number(values.sck), ws: Number(values.ws), sd: Number(values.sd) },
    flashSize: Number(values['flash-size']),
  };
}

// ------------------------------------------------------------------------------------ images (UF2)

/** The UF2's blocks written into a blank (0xFF) flash: the user's "drop the UF2 on RPI-RP2" step. */
function flashFromUf2(uf2Path, flashSize) {
  const data = fs.readFileSync(uf2Path);
  if (data.length === 0 || data.length % 512) {
    throw new Error(`${uf2Path}: not a UF2 file (size ${data.length} is not a multiple of 512)`);
  }
  const flash = new Uint8Array(flashSize).fill(0xff);
  for (let off = 0; off < data.length; off += 512) {
    writeUf2Block(data.subarray(off, off + 512), flash, uf2Path);
  }
  return flash;
}

function writeUf2Block(block, flash, uf2Path) {
  const u32 = (i) => block.readUInt32LE(i);
  if (u32(0) !== 0x0a324655 || u32(4) !== 0x9e5d5157 || u32(508) !== 0x0ab16f30) {
    throw new Error(`${uf2Path}: bad UF2 block magic`);
  }
  const flags = u32(8);
  if (flags & 1) {
    return; // "not main flash"
  }
  if (flags & 0x2000 && u32(28) !== UF2_FAMILY_RP2040) {
    throw new Error(`${uf2Path}: UF2 family 0x${u32(28).toString(16)} is not RP2040`);
  }
  const addr = u32(12);
  const size = u32(16);
  if (addr < FLASH_BASE || addr + size > FLASH_BASE + flash.length || size > 476) {
    throw new Error(`${uf2Path}: UF2 block at 0x${addr.toString(16)} is outside the flash`);
  }
  flash.set(block.subarray(32, 32 + size), addr - FLASH_BASE);
}

function loadFlash(opts) {
  if (fs.existsSync(opts.flash)) {
    const saved = fs.readFileSync(opts.flash);
    if (saved.length !== opts.flashSize) {
      throw new Error(`${opts.flash}: flash file is ${saved.length} bytes, expected ${opts.flashSize}`);
    }
    return new Uint8Array(saved);
  }
  return flashFromUf2(opts.uf2, opts.flashSize);
}

// ---------------------------------------------------------------------------------- flash (GAP 3)

/** The ROM function table (pointer at 0x14): two-letter code → function address (thumb bit cleared). */
function romFunctions(bootrom) {
  const view = Buffer.from(bootrom.buffer, bootrom.byteOffset, bootrom.byteLength);
  const table = new Map();
  for (let p = view.readUInt16LE(0x14); p + 4 <= view.length; p += 4) {
    const code = view.readUInt16LE(p);
    if (!code) {
      break;
    }
    table.set(String.fromCharCode(code & 0xff, code >> 8), view.readUInt16LE(p + 2) & ~1);
  }
  return table;
}

function loadBootrom(bootromPath) {
  const data = fs.readFileSync(bootromPath);
  if (data.length !== 16384) {
    throw new Error(`${bootromPath}: a bootrom is 16384 bytes, this is ${data.length}`);
  }
  const rom = new Uint8Array(data);
  const table = romFunctions(rom);
  for (const code of ['RE', 'RP', 'IF', 'EX', 'FC', 'CX']) {
    if (!table.has(code)) {
      throw new Error(`${bootromPath}: ROM function table has no '${code}' entry`);
    }
  }
  patchRom(rom, table);
  return new Uint32Array(rom.buffer);
}

/** RE/RP → `bkpt #n; bx lr` (served by `onFlashBreak`), IF/EX/FC/CX → `bx lr`. */
function patchRom(rom, table) {
  const view = Buffer.from(rom.buffer);
  view.writeUInt16LE(0xbe00 | BKPT_ERASE, table.get('RE'));
  view.writeUInt16LE(0x4770, table.get('RE') + 2);
  view.writeUInt16LE(0xbe00 | BKPT_PROGRAM, table.get('RP'));
  view.writeUInt16LE(0x4770, table.get('RP') + 2);
  for (const code of ['IF', 'EX', 'FC', 'CX']) {
    view.writeUInt16LE(0x4770, table.get(code));
  }
}

/** flash_range_erase(offs, count, block, cmd) / flash_range_program(offs, data, count) on the flash array. */
function onFlashBreak(mcu, code, flashSize) {
  const [r0, r1, r2] = mcu.core.registers;
  const offs = r0 & 0xffffff;
  if (code === BKPT_ERASE) {
    mcu.flash.fill(0xff, offs, Math.min(offs + r1, flashSize));
  } else {
    for (let i = 0; i < r2 && offs + i < flashSize; i++) {
      mcu.flash[offs + i] &= mcu.readUint8(r1 + i); // NOR: programming only clears bits
    }
  }
  flashStore.touched();
}

const flashStore = {
  file: null,
  size: 0,
  mcu: null,
  timer: null,
  touched() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.save(), FLASH_SETTLE_MS);
  },
  /** Atomic: temp file + rename, so a killed harness never leaves half a flash. */
  save() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.mcu || !this.file) {
      return;
    }
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    fs.writeFileSync(tmp, this.mcu.flash.subarray(0, this.size));
    fs.renameSync(tmp, this.file);
  },
};

// ------------------------------------------------------------------------------ PIO stepping (GAP 1)

/**
 * Replace the free-running setTimeout loop by a simulation-clock alarm stepping what CLKDIV owes for the
 * emulated time that really passed since the last step (an alarm may fire late when the clock jumps; owing by
 * elapsed time, not by alarm count, keeps the PIO exactly on the emulated clock).
 */
function installPioStepping(mcu, onStep) {
  for (const pio of mcu.pio) {
    const owed = [0, 0, 0, 0];
    const last = { nanos: 0 };
    const alarm = mcu.clock.createAlarm(() => {
      if (pio.stopped) {
        return; // re-armed by the next CTRL write that enables a state machine
      }
      stepPio(mcu, pio, owed, last, onStep);
      alarm.schedule(PIO_TICK_NS);
    });
    pio.run = () => {
      last.nanos = mcu.clock.nanos;
      alarm.schedule(PIO_TICK_NS);
    };
  }
}

function stepPio(mcu, pio, owed, last, onStep) {
  const now = mcu.clock.nanos;
  const elapsed = now - last.nanos;
  last.nanos = now;
  const cycles = (elapsed * mcu.clkSys) / 1e9;
  let most = 0;
  const steps = [0, 0, 0, 0];
  pio.machines.forEach((sm, i) => {
    if (!sm.enabled) {
      owed[i] = 0;
      return;
    }
    const div = (sm.clockDivInt || 65536) + sm.clockDivFrac / 256;
    owed[i] += cycles / div;
    steps[i] = Math.floor(owed[i]);
    owed[i] -= steps[i];
    most = Math.max(most, steps[i]);
  });
  const t0 = now - elapsed;
  for (let n = 0; n < most; n++) {
    onStep(t0 + ((n + 1) * elapsed) / most); // the emulated instant of this PIO cycle (for the mic)
    for (let i = 0; i < 4; i++) {
      if (n < steps[i]) {
        pio.machines[i].step();
      }
    }
    pio.checkChangedPins(); // pin edges reach GPIO listeners (the mic) after every step
  }
}

// ------------------------------------------------------------------------------ INMP441 microphone

/**
 * On SCK rising latch WS; a WS change starts a new 32-bit word (WS low: left, high: right); on SCK falling
 * drive the next bit on SD, MSB first (one SCK after the WS edge: Philips I2S). Words come from the
 * Python SignalServer as interleaved little-endian int32 (left, right) pairs; zeros without a source.
 */
class Mic {
  constructor(wordsSocket) {
    this.socketPath = wordsSocket;
    this.now = 0; // emulated ns of the current PIO step
    this.lastEdge = -Infinity;
    this.session = null;
    this.pins = null;
  }

  attach(mcu, pins) {
    this.mcu = mcu;
    this.lastEdge = -Infinity;
    this.sdPin = mcu.gpio[pins.sd];
    this.wsPin = mcu.gpio[pins.ws];
    this.ws = null;
    this.word = 0;
    this.bit = -1;
    this.right = 0;
    mcu.gpio[pins.sck].addListener((value, old) => this.onSck(value, old));
    this.endSession();
  }

  onSck(value, old) {
    if (value === GPIOPinState.High) {
      this.onRising();
    } else if (value === GPIOPinState.Low && old === GPIOPinState.High) {
      this.drive();
    }
  }

  onRising() {
    const now = this.now;
    if (!this.session || now - this.lastEdge > I2S_IDLE_NS) {
      this.startSession();
    }
    this.lastEdge = now;
    const ws = this.wsPin.value === GPIOPinState.High ? 1 : 0;
    if (ws === this.ws) {
      return;
    }
    this.ws = ws;
    this.bit = 31;
    if (ws === 0) {
      this.session.measure(now);
      const [left, right] = this.session.nextPair();
      this.word = left;
      this.right = right;
    } else {
      this.word = this.right;
    }
  }

  drive() {
    const level = this.bit >= 0 ? (this.word >>> this.bit) & 1 : 0;
    this.bit -= 1;
    this.sdPin.setInputValue(level === 1); // raw pad input: the pull-down does not override a driven line
  }

  startSession() {
    this.endSession();
    this.session = new I2SSession(this.socketPath);
  }

  endSession() {
    if (this.session) {
      this.session.close();
    }
    this.session = null;
  }

  /** Called by the run loop: the session ends when SCK has been idle (emulated) for I2S_IDLE_NS. */
  checkIdle(nanos) {
    if (this.session && nanos - this.lastEdge > I2S_IDLE_NS) {
      this.endSession();
      this.lastEdge = -Infinity;
    }
  }

  /** False while the emulation must wait for words from the Python side (never invent samples). */
  ready() {
    return !this.session || this.session.ready();
  }
}

/** One I2S session: measure the rate, connect, read ahead, hand out (left, right) pairs. */
class I2SSession {
  constructor(socketPath) {
    this.socketPath = socketPath;
    this.fallEdges = [];
    this.rate = 0;
    this.sock = null;
    this.chunks = [];
    this.offset = 0;
    this.carry = Buffer.alloc(0);
    this.buffered = 0; // bytes
    this.eof = false;
    this.words = 0;
    this.paused = false;
    this.owed = 0; // frames clocked (driven as zeros) while the rate was measured: skipped from the stream
  }

  measure(now) {
    if (this.rate || this.fallEdges.push(now) < 3) {
      return;
    }
    const period = (now - this.fallEdges[0]) / 2; // two WS periods (PIO steps carry their own instants)
    const raw = 1e9 / period;
    this.rate = STANDARD_RATES.reduce((a, b) => (Math.abs(b - raw) < Math.abs(a - raw) ? b : a));
    emit({ event: 'i2s', rate_hz: this.rate, words: 0, state: 'start', measured_hz: Math.round(raw) });
    if (this.socketPath) {
      this.connect();
    } else {
      this.eof = true;
    }
  }

  connect() {
    this.sock = net.createConnection(this.socketPath);
    this.sock.on('connect', () => this.sock.write(`I2S ${this.rate} 32 1 0\n`));
    this.sock.on('data', (data) => this.onData(data));
    this.sock.on('end', () => this.onEnd());
    this.sock.on('error', (err) => {
      process.stderr.write(`mic socket: ${err.message}\n`);
      this.onEnd();
    });
  }

  onData(data) {
    const all = this.carry.length ? Buffer.concat([this.carry, data]) : data;
    const whole = all.length - (all.length % 8);
    this.carry = Buffer.from(all.subarray(whole));
    if (whole) {
      this.chunks.push(all.subarray(0, whole));
      this.buffered += whole;
    }
    if (this.buffered > this.rate * 8 && !this.paused) {
      this.paused = true; // read-ahead: ~1 s of frames is enough
      this.sock.pause();
    }
    wake();
  }

  onEnd() {
    this.eof = true;
    wake();
  }

  nextPair() {
    // The mic's stream index 0 is the first clocked frame, as on an INMP441 whose settle counts from clock
    // start: frames clocked before the words arrive (rate measuring) are taken out of the stream unheard.
    while (this.owed > 0 && this.chunks.length) {
      this.take();
      this.owed -= 1;
    }
    if (!this.chunks.length) {
      if (!this.eof) {
        this.owed += 1;
      }
      return [0, 0]; // measuring, or the signal ended: drive zeros
    }
    return this.take();
  }

  take() {
    const chunk = this.chunks[0];
    const pair = [chunk.readInt32LE(this.offset), chunk.readInt32LE(this.offset + 4)];
    this.offset += 8;
    this.buffered -= 8;
    this.words += 2;
    if (this.offset >= chunk.length) {
      this.chunks.shift();
      this.offset = 0;
    }
    if (this.paused && this.buffered < this.rate * 4) {
      this.paused = false;
      this.sock.resume();
    }
    return pair;
  }

  ready() {
    if (!this.rate || this.eof) {
      return true;
    }
    return this.buffered >= 8 * (Math.ceil(this.rate * 0.004) + 8); // 4 ms of frames ahead
  }

  close() {
    emit({ event: 'i2s', rate_hz: this.rate, words: this.words, state: 'stop' });
    if (this.sock) {
      this.sock.destroy();
    }
  }
}

// ------------------------------------------------------------------------------ USB CDC bridge (GAP 2)

/** fd 3 ⇄ the emulated CDC. Host→device bytes wait in `queue` until the device arms an OUT buffer. */
const cdcLink = {
  sock: null,
  queue: [],
  queued: 0,
  parked: null, // GAP 2: {endpoint, size} of an OUT read waiting for host data
  cdc: null,

  open(onEof) {
    this.sock = new net.Socket({ fd: 3, readable: true, writable: true });
    this.sock.on('data', (data) => this.fromHost(data));
    this.sock.on('end', onEof);
    this.sock.on('error', onEof);
  },

  attach(mcu) {
    this.cdc = new USBCDC(mcu.usbCtrl);
    this.parked = null;
    this.queue = [];
    this.queued = 0;
    const usb = mcu.usbCtrl;
    usb.onEndpointRead = (endpoint, size) => {
      if (endpoint === this.cdc.outEndpoint) {
        this.parked = { endpoint, size, usb };
        this.deliver();
      }
    };
    this.cdc.onSerialData = (buffer) => this.sock.write(Buffer.from(buffer));
    this.cdc.onDeviceConnected = () => emit({ event: 'usb', connected: true });
  },

  fromHost(data) {
    this.queue.push(data);
    this.queued += data.length;
    if (this.queued > 65536) {
      this.sock.pause();
    }
    this.deliver();
    wake();
  },

  deliver() {
    if (!this.parked || !this.queued) {
      return;
    }
    const { endpoint, size, usb } = this.parked;
    const out = Buffer.alloc(Math.min(size, this.queued));
    let filled = 0;
    while (filled < out.length) {
      const head = this.queue[0];
      const n = head.copy(out, filled, 0, Math.min(head.length, out.length - filled));
      filled += n;
      if (n === head.length) {
        this.queue.shift();
      } else {
        this.queue[0] = head.subarray(n);
      }
    }
    this.queued -= filled;
    this.parked = null;
    usb.endpointReadDone(endpoint, new Uint8Array(out));
    if (this.queued <= 65536) {
      this.sock.resume();
    }
  },

  /** The host side keeps up (device→host bytes are not piling up in Node). */
  ready() {
    return this.sock.writableLength < 1 << 20;
  },
};

// ------------------------------------------------------------------------------------ chip and reset

let mcu = null;
let boots = 0;
let pendingReset = null;
let lastCause = null;
const mic = { model: null };

/** A fresh RP2040: bootrom (patched), flash, GAP 1/2/3 closed, reset causes wired, mic attached. */
function buildChip(bootrom, flash, opts) {
  const chip = new RP2040();
  chip.logger = new HarnessLogger();
  chip.loadBootrom(bootrom); // also fills flash with 0xFF
  chip.flash.set(flash);
  chip.onBreak = (code) => {
    if (code === BKPT_ERASE || code === BKPT_PROGRAM) {
      onFlashBreak(chip, code, opts.flashSize);
    } else {
      throw new Error(`core fault: breakpoint #${code} at PC 0x${(chip.core.PC - 2).toString(16)}`);
    }
  };
  installPioStepping(chip, (t) => {
    mic.model.now = t;
  });
  wireResets(chip);
  cdcLink.attach(chip);
  mic.model.attach(chip, opts.pins);
  chip.core.PC = FLASH_BASE; // boot2 at the start of flash, as the bootrom would enter it
  return chip;
}

/**
 * Reset causes. machine.reset() (MicroPython v1.24–v1.28 rp2: watchdog_reboot(0, SRAM_END, 0)) sets WATCHDOG
 * CTRL.TRIGGER; machine.WDT(timeout=ms) loads the watchdog and it expires unless fed; AIRCR.SYSRESETREQ is
 * the Cortex way. Each sets `pendingReset`; the run loop then rebuilds the chip (`resetChip`).
 */
function wireResets(chip) {
  modelWatchdog(chip, chip.peripherals[0x40058]);
  const ppbWrite = chip.ppb.writeUint32.bind(chip.ppb);
  chip.ppb.writeUint32 = (offset, value) => {
    if (offset === 0xd0c && value >>> 16 === 0x05fa && value & 4) {
      pendingReset = 'software';
      return;
    }
    ppbWrite(offset, value);
  };
}

/**
 * The watchdog counter, on the simulation clock. rp2040js 1.4.1's own Timer32-based countdown can fire in a
 * zero-length loop (the emulation hangs), so CTRL and LOAD are served here and its timer is never started.
 * The counter runs down at 2 MHz (RP2040-E1: decremented twice per 1 µs tick; pico-sdk loads 2 × µs).
 */
function modelWatchdog(chip, watchdog) {
  const CTRL = 0x00;
  const LOAD = 0x04;
  const ENABLE = 1 << 30;
  const TRIGGER = 1 << 31;
  const wd = { enabled: false, load: 0, base: 0, keep: 0 };
  const remaining = () =>
    wd.enabled ? Math.max(0, wd.load - Math.floor((chip.clock.nanos - wd.base) / 500)) : wd.load;
  const alarm = chip.clock.createAlarm(() => {
    pendingReset = 'watchdog';
  });
  const arm = () => {
    alarm.cancel();
    if (wd.enabled) {
      alarm.schedule(Math.max(1, remaining()) * 500);
    }
  };
  const read = watchdog.readUint32.bind(watchdog);
  const write = watchdog.writeUint32.bind(watchdog);
  watchdog.readUint32 = (offset) =>
    offset === CTRL ? (wd.enabled ? ENABLE : 0) | wd.keep | (remaining() & 0xffffff) : read(offset);
  watchdog.writeUint32 = (offset, value) => {
    if (offset === LOAD) {
      wd.load = value & 0xffffff;
      wd.base = chip.clock.nanos;
      arm();
    } else if (offset === CTRL) {
      if (value & TRIGGER) {
        pendingReset = 'software';
      }
      wd.load = remaining();
      wd.base = chip.clock.nanos;
      wd.enabled = !!(value & ENABLE);
      wd.keep = value & 0x07000000; // PAUSE_* bits read back
      arm();
    } else {
      write(offset, value);
    }
  };
}

function boot(flash) {
  emit({ event: 'boot', n: boots });
  boots += 1;
  mcu = buildChip(state.bootrom, flash, state.opts);
  mcu.peripherals[0x40058].reason = lastCause === 'watchdog' ? 1 : lastCause === 'software' ? 2 : 0; // REASON
  flashStore.mcu = mcu;
  clock.bootWall = performance.now();
  clock.statsAt = 1e9;
  clock.busyNs = 0;
  clock.sleepNs = 0;
  clock.runWallMs = 0;
}

function resetChip(cause) {
  emit({ event: 'reset', cause });
  lastCause = cause;
  pendingReset = null;
  flashStore.save();
  const flash = mcu.flash.slice(0, state.opts.flashSize);
  mic.model.endSession();
  boot(flash);
}

// -------------------------------------------------------------------------------- run loop, pacing

const clock = { bootWall: 0, statsAt: 1e9, busyNs: 0, sleepNs: 0, runWallMs: 0 };
const state = { opts: null, bootrom: null, timer: null, immediate: null, stopped: false };

/** Emulated ns the chip may reach now: never ahead of wall-clock time since boot. */
function wallNs() {
  return (performance.now() - clock.bootWall) * 1e6;
}

function wake() {
  if (state.stopped || state.immediate) {
    return;
  }
  clearTimeout(state.timer);
  state.timer = null;
  state.immediate = setImmediate(runSlice);
}

function sleepFor(ms) {
  state.timer = setTimeout(() => {
    state.timer = null;
    state.immediate = setImmediate(runSlice);
  }, ms);
}

function runSlice() {
  state.immediate = null;
  try {
    const began = performance.now();
    const wait = runFor(SLICE_WALL_MS);
    clock.runWallMs += performance.now() - began; // wall time not spent throttled or waiting for I/O
    if (!state.stopped) {
      if (wait === 0) {
        state.immediate = setImmediate(runSlice);
      } else if (wait > 0) {
        sleepFor(wait);
      } // wait < 0: blocked on I/O; wake() resumes
    }
  } catch (err) {
    fatal(`${err.message} (PC 0x${mcu.core.PC.toString(16)})`);
  }
}

/** Runs the chip; returns 0 (go on), a wall ms to sleep, or -1 (wait for I/O that calls wake()). */
function runFor(sliceMs) {
  const end = performance.now() + sliceMs;
  const core = mcu.core;
  const chipClock = mcu.clock;
  while (performance.now() < end) {
    if (pendingReset) {
      resetChip(pendingReset);
      return 0;
    }
    if (!mic.model.ready() || !cdcLink.ready()) {
      return -1;
    }
    const limit = wallNs();
    if (chipClock.nanos >= limit) {
      return 1; // emulated time caught up with wall time
    }
    const sleep = core.waiting ? sleepUntil(chipClock, limit) : executeBurst(core, chipClock);
    housekeeping(chipClock.nanos);
    if (sleep > 0) {
      return sleep;
    }
  }
  return 0;
}

/** WFI/WFE: jump to the next alarm, but not past wall time; returns wall ms to sleep (0: jumped). */
function sleepUntil(chipClock, limit) {
  const next = chipClock.nextAlarm ? chipClock.nextAlarm.nanos : Infinity;
  const target = Math.min(next, limit);
  const delta = target - chipClock.nanos;
  clock.sleepNs += delta;
  chipClock.tick(delta);
  if (next > limit) {
    return Math.max(1, Math.min(5, Math.ceil((next - limit) / 1e6)));
  }
  return 0;
}

function executeBurst(core, chipClock) {
  const nsPerCycle = 1e9 / mcu.clkSys;
  const start = chipClock.nanos;
  for (let i = 0; i < 2000 && !core.waiting && !pendingReset; i++) {
    chipClock.tick(core.executeInstruction() * nsPerCycle);
  }
  clock.busyNs += chipClock.nanos - start;
  return 0;
}

function housekeeping(nanos) {
  mic.model.checkIdle(nanos);
  if (nanos >= clock.statsAt) {
    clock.statsAt += 1e9;
    emitStats();
  }
}

function emitStats() {
  emit({
    event: 'stats',
    t_us: Math.round(mcu.clock.nanos / 1000),
    wall_ms: Math.round(performance.now() - clock.bootWall),
    busy_us: Math.round(clock.busyNs / 1000),
    sleep_us: Math.round(clock.sleepNs / 1000),
    run_wall_ms: Math.round(clock.runWallMs), // wall time spent emulating (not throttled, not waiting)
    boots,
  });
}

// ------------------------------------------------------------------------------- commands, shutdown

function onCommand(line) {
  let cmd;
  try {
    cmd = JSON.parse(line).cmd;
  } catch {
    process.stderr.write(`bad command line: ${line}\n`);
    return;
  }
  if (cmd === 'stop') {
    shutdown(0);
  } else if (cmd === 'reset') {
    pendingReset = 'external';
    wake();
  } else if (cmd === 'stats') {
    emitStats();
  } else {
    process.stderr.write(`unknown command: ${cmd}\n`);
  }
}

function shutdown(code) {
  if (state.stopped) {
    return;
  }
  state.stopped = true;
  clearTimeout(state.timer);
  clearImmediate(state.immediate);
  try {
    flashStore.save();
  } catch (err) {
    process.stderr.write(`saving the flash failed: ${err.message}\n`);
    code = code || 1;
  }
  process.exit(code);
}

function main() {
  let opts;
  let flash;
  try {
    opts = parseOptions();
    state.opts = opts;
    state.bootrom = loadBootrom(opts.bootrom);
    flash = loadFlash(opts);
  } catch (err) {
    fatal(err.message, 2);
    return;
  }
  flashStore.file = opts.flash;
  flashStore.size = opts.flashSize;
  mic.model = new Mic(opts.words);
  cdcLink.open(() => shutdown(0)); // fd 3 EOF: the host process went away
  readline.createInterface({ input: process.stdin }).on('line', onCommand).on('close', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));
  process.on('SIGINT', () => shutdown(0));
  boot(flash);
  wake();
}

main();
