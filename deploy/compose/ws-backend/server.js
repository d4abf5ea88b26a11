// Demo WebSocket backend for deploy/compose: Node.js built-ins only (no npm install), so the
// official node image runs it as is.
//
// Behaves like an application with an auth check behind nginx:
//   - WebSocket upgrade on /ws/... with ?token=good -> 101, then echoes every message;
//   - WebSocket upgrade with any other token          -> 403 (the app refuses);
//   - plain GET on /ws/... (no Upgrade header: what a location without the upgrade headers
//     forwards)                                        -> 403, the classic "403 on /ws/";
//   - plain GET anywhere else                          -> 426 Upgrade Required;
//   - GET /healthz                                     -> 200.
// tests/deploy_configs.rs runs this file behind deploy/nginx/nginx.conf.
'use strict';

const http = require('http');
const crypto = require('crypto');

const PORT = Number(process.env.PORT || 8080);
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function tokenOk(url) {
  const q = new URL(url, 'http://x').searchParams;
  return q.get('token') === 'good';
}

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok\n');
  } else if (req.url.startsWith('/ws/')) {
    res.writeHead(403, { 'Content-Type': 'text/plain' });
    res.end('Forbidden: not a WebSocket request\n');
  } else {
    res.writeHead(426, { 'Content-Type': 'text/plain' });
    res.end('Upgrade Required\n');
  }
});

server.on('upgrade', (req, socket) => {
  const key = req.headers['sec-websocket-key'];
  const isWs = String(req.headers.upgrade || '').toLowerCase() === 'websocket';
  if (!isWs || !key || !req.url.startsWith('/ws/') || !tokenOk(req.url)) {
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\nConnection: close\r\n\r\nForbidden\n');
    return;
  }
  const accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
  socket.setNoDelay(true);
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const frame = parseFrame(buf);
      if (!frame) break;
      buf = buf.subarray(frame.size);
      if (frame.opcode === 0x8) {
        socket.end(encodeFrame(0x8, frame.payload.subarray(0, 2)));
        return;
      } else if (frame.opcode === 0x9) {
        socket.write(encodeFrame(0xa, frame.payload));
      } else if (frame.opcode <= 0x2) {
        socket.write(encodeFrame(frame.opcode, frame.payload, frame.fin));
      }
    }
    if (buf.length > 1 << 20) socket.destroy(); // no frames over 1 MiB in a demo
  });
  socket.on('error', () => socket.destroy());
});

// One client frame (always masked) from the start of `b`, or null if incomplete.
function parseFrame(b) {
  if (b.length < 2) return null;
  const fin = (b[0] & 0x80) !== 0;
  const opcode = b[0] & 0x0f;
  const masked = (b[1] & 0x80) !== 0;
  let len = b[1] & 0x7f;
  let off = 2;
  if (len === 126) {
    if (b.length < 4) return null;
    len = b.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    if (b.length < 10) return null;
    len = Number(b.readBigUInt64BE(2));
    off = 10;
  }
  const maskLen = masked ? 4 : 0;
  if (b.length < off + maskLen + len) return null;
  const payload = Buffer.from(b.subarray(off + maskLen, off + maskLen + len));
  if (masked) {
    const mask = b.subarray(off, off + 4);
    for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
  }
  return { fin, opcode, payload, size: off + maskLen + len };
}

// A server frame (never masked).
function encodeFrame(opcode, payload, fin = true) {
  const len = payload.length;
  let head;
  if (len < 126) {
    head = Buffer.from([(fin ? 0x80 : 0) | opcode, len]);
  } else if (len < 65536) {
    head = Buffer.alloc(4);
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

// PORT=0 takes a free port; the line names the port actually bound (tests read it).
server.listen(PORT, () => console.log(`ws-backend listening on :${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
