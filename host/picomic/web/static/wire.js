// The binary audio message (docs/web.md): a 32-byte little-endian header, the board id, then the samples.
export const MAGIC = "PMA1";

export function parseAudio(buffer) {
  const view = new DataView(buffer);
  if (buffer.byteLength < 32) return null;
  const magic = String.fromCharCode(view.getUint8(0), view.getUint8(1), view.getUint8(2), view.getUint8(3));
  if (magic !== MAGIC) return null;
  const headerBytes = view.getUint16(4, true);
  const width = view.getUint8(6);
  const channels = view.getUint8(7);
  const count = view.getUint32(24, true);
  if ((width !== 2 && width !== 4) || buffer.byteLength !== headerBytes + count * channels * width) return null;
  const boardLength = view.getUint8(30);
  const boardId = new TextDecoder().decode(new Uint8Array(buffer, 32, boardLength));
  const raw = width === 2 ? new Int16Array(buffer, headerBytes, count * channels)
                          : new Int32Array(buffer, headerBytes, count * channels);
  const fullScale = width === 2 ? 32768 : 8388608;
  const mono = new Float32Array(count);  // channel 0 (the left slot) scaled to [-1, 1)
  for (let i = 0; i < count; i++) mono[i] = raw[i * channels] / fullScale;
  return {
    boardId, samples: mono, sampleRate: view.getUint32(8, true), seq: view.getUint32(12, true),
    streamSample: Number(view.getBigUint64(16, true)), flags: view.getUint16(28, true),
  };
}
