// The page: one WebSocket to /ws (reconnecting by itself), binary audio and JSON events to each board's view.
import { BoardView } from "./board.js";
import { parseAudio } from "./wire.js";

const boards = new Map();
const root = document.getElementById("boards");
const conn = document.getElementById("connection");
const token = new URLSearchParams(location.search).get("token");
let session = null;
let connects = 0;
let backoffMs = 500;

function board(id) {
  const key = id || "";
  if (!boards.has(key)) boards.set(key, new BoardView(root, key));
  return boards.get(key);
}

function setState(state, text) {
  conn.dataset.state = state;
  conn.textContent = text;
}

function onEvent(m) {
  const view = () => board(m.board_id);
  switch (m.type) {
    case "hello":
      if (session !== null && session !== m.session) for (const b of boards.values()) b.restarted();
      session = m.session;
      conn.dataset.session = m.session;
      break;
    case "level": view().level(m); break;
    case "status": view().status(m); break;
    case "device": view().device(m); break;
    case "vad": view().vadEvent(m); break;
    case "transcript": view().transcriptEvent(m); break;
    case "end": view().show(`stream ended: ${m.reason}`); break;
    case "error": view().show(m.message); break;
    case "discontinuity": view().show(`discontinuity: ${m.reason}, ${m.lost_frames} frames lost`); break;
    case "web": for (const b of boards.values()) b.setLink("web_dropped", m.you_dropped); break;
    default: break;  // unknown types are ignored (docs/web.md)
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = token ? `?token=${encodeURIComponent(token)}` : "";
  const ws = new WebSocket(`${scheme}://${location.host}/ws${query}`);
  ws.binaryType = "arraybuffer";
  setState("connecting", "connecting…");
  ws.onopen = () => {
    connects += 1;
    conn.dataset.connects = String(connects);
    backoffMs = 500;
    setState("open", "connected");
  };
  ws.onmessage = (e) => {
    if (typeof e.data === "string") {
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      onEvent(m);
    } else {
      const a = parseAudio(e.data);
      if (a) board(a.boardId).audio(a);
    }
  };
  ws.onclose = () => {
    setState("closed", `disconnected — reconnecting in ${(backoffMs / 1000).toFixed(1)} s`);
    setTimeout(connect, backoffMs);
    backoffMs = Math.min(2000, backoffMs * 2);
  };
}

function frame() {
  for (const b of boards.values()) b.draw();
  requestAnimationFrame(frame);
}

connect();
requestAnimationFrame(frame);
