/**
 * Hostile clients: each function attacks a running server once, the way a
 * visitor could, and resolves when its connection is gone. None of them
 * throws on what the server does back (resets, GOAWAY, closed sockets are the
 * expected outcomes); each is bounded in time, so a server that stops
 * answering makes the attack end, not hang. The assertions are the caller's:
 * the server must still answer and its processes must still be alive.
 */
import { connect as http2Connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type Settings } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface Target {
  /** The TLS (HTTP/2) port. */
  httpsPort: number;
  /** The plain HTTP/1.1 port. */
  httpPort: number;
  /** A file larger than the HTTP/2 window and than the in-memory limit, so it is sent from disk. */
  bigPath: string;
  /** A small page. */
  smallPath: string;
}

export interface Attack {
  name: string;
  run(target: Target): Promise<void>;
}

/** No attack waits longer than this for the server to do something. */
const STEP_MS = 5_000;

const ignore = (): void => undefined;

function withDeadline(promise: Promise<unknown>, ms = STEP_MS): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      () => {
        clearTimeout(timer);
        resolve();
      },
    );
  });
}

function eventOf(emitter: NodeJS.EventEmitter, ...events: string[]): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      for (const event of events) emitter.off(event, done);
      resolve();
    };
    for (const event of events) emitter.on(event, done);
  });
}

async function openSession(target: Target, settings: Settings = {}, extra: Record<string, unknown> = {}): Promise<ClientHttp2Session | undefined> {
  const session = http2Connect(`https://localhost:${target.httpsPort}`, {
    rejectUnauthorized: false,
    servername: 'localhost',
    host: '127.0.0.1',
    settings,
    ...extra,
  } as never);
  session.on('error', ignore);
  session.on('goaway', ignore);
  let connected = false;
  await withDeadline(
    new Promise<void>((resolve) => {
      session.once('connect', () => {
        connected = true;
        resolve();
      });
      session.once('close', resolve);
    }),
  );
  if (!connected) {
    session.destroy();
    return undefined;
  }
  return session;
}

function request(session: ClientHttp2Session, path: string, headers: Record<string, string | string[]> = {}): ClientHttp2Stream | undefined {
  try {
    const stream = session.request({ ':path': path, ':authority': 'localhost', ...headers });
    stream.on('error', ignore);
    stream.on('frameError', ignore);
    return stream;
  } catch {
    // The session is already closing (the server sent GOAWAY): nothing to send.
    return undefined;
  }
}

async function finish(session: ClientHttp2Session): Promise<void> {
  if (session.destroyed) return;
  const closed = eventOf(session, 'close');
  session.close();
  await withDeadline(closed);
  session.destroy();
}

/** Waits for the first DATA frame of a big file (the server is then mid-file, blocked on the window). */
async function firstData(stream: ClientHttp2Stream): Promise<boolean> {
  let got = false;
  await withDeadline(
    new Promise<void>((resolve) => {
      stream.once('data', () => {
        got = true;
        stream.pause();
        resolve();
      });
      stream.once('close', resolve);
    }),
  );
  return got;
}

/**
 * RST_STREAM with `code` while a file larger than the window is being sent;
 * twice on one session, since a server may send a file's first answer
 * differently from the later ones.
 */
function resetMidFile(code: number, codeName: string): Attack {
  return {
    name: `RST_STREAM ${codeName} mid-file`,
    async run(target) {
      const session = await openSession(target);
      if (session === undefined) return;
      for (let i = 0; i < 2 && !session.destroyed; i++) {
        const stream = request(session, target.bigPath);
        if (stream !== undefined && (await firstData(stream))) {
          const closed = eventOf(stream, 'close');
          stream.close(code);
          await withDeadline(closed);
        }
      }
      await finish(session);
    },
  };
}

/**
 * Thousands of streams opened on one session and cancelled: opened before the
 * server's SETTINGS arrive (so the client does not hold them back to the
 * server's concurrency limit), cancelled once they are on the wire.
 */
function openAndCancel(count: number): Attack {
  return {
    name: `${count} streams opened and cancelled on one session`,
    async run(target) {
      const session = http2Connect(`https://localhost:${target.httpsPort}`, {
        rejectUnauthorized: false,
        servername: 'localhost',
        host: '127.0.0.1',
        peerMaxConcurrentStreams: 100_000,
      } as never);
      session.on('error', ignore);
      session.on('goaway', ignore);
      const streams: ClientHttp2Stream[] = [];
      for (let i = 0; i < count; i++) {
        const stream = request(session, i % 2 === 0 ? target.bigPath : target.smallPath);
        if (stream !== undefined) streams.push(stream);
      }
      await withDeadline(eventOf(session, 'connect', 'close'));
      await withDeadline(Promise.all(streams.map((stream) => eventOf(stream, 'ready', 'close'))));
      for (const stream of streams) if (!stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
      await finish(session);
    },
  };
}

/** Streams reset as soon as the response HEADERS arrive, many at a time. */
function resetAfterHeaders(count: number): Attack {
  return {
    name: `${count} streams reset right after the response headers`,
    async run(target) {
      const session = await openSession(target);
      if (session === undefined) return;
      const all: Array<Promise<void>> = [];
      for (let i = 0; i < count && !session.destroyed && !session.closed; i++) {
        const stream = request(session, i % 2 === 0 ? target.bigPath : target.smallPath);
        if (stream === undefined) break;
        stream.once('response', () => stream.close(constants.NGHTTP2_CANCEL));
        all.push(eventOf(stream, 'close'));
      }
      await withDeadline(Promise.all(all));
      await finish(session);
    },
  };
}

/**
 * The whole session destroyed while big files are being sent: once with an
 * error code (a GOAWAY goes out before the socket closes), once by closing
 * the socket with no word.
 */
const destroyMidResponse: Attack = {
  name: 'session destroyed mid-response',
  async run(target) {
    for (const code of [constants.NGHTTP2_INTERNAL_ERROR, undefined]) {
      const session = await openSession(target);
      if (session === undefined) return;
      const streams = [request(session, target.bigPath), request(session, target.bigPath)];
      if (streams[0] !== undefined) await firstData(streams[0]);
      if (code === undefined) session.socket.destroy();
      else session.destroy(undefined, code);
      await withDeadline(eventOf(session, 'close'));
    }
  },
};

/** GOAWAY from the client with an error code while files are being sent, then the socket closed. */
const goawayMidResponse: Attack = {
  name: 'GOAWAY mid-response',
  async run(target) {
    const session = await openSession(target);
    if (session === undefined) return;
    const stream = request(session, target.bigPath);
    request(session, target.smallPath);
    if (stream !== undefined) await firstData(stream);
    if (session.destroyed) return;
    session.goaway(constants.NGHTTP2_PROTOCOL_ERROR);
    await withDeadline(eventOf(session, 'close'), 500);
    session.destroy();
  },
};

/** A client that announces a zero window and never reads, asking for big files on many streams. */
function neverReads(streams: number, holdMs: number): Attack {
  return {
    name: `zero window, ${streams} big files requested, never read`,
    async run(target) {
      const session = await openSession(target, { initialWindowSize: 0 });
      if (session === undefined) return;
      const answered: Array<Promise<void>> = [];
      for (let i = 0; i < streams; i++) {
        const stream = request(session, target.bigPath);
        if (stream !== undefined) answered.push(eventOf(stream, 'response', 'close'));
      }
      await withDeadline(Promise.all(answered));
      // Held open so the server has streams stuck on a full window while others are served.
      await new Promise((resolve) => setTimeout(resolve, holdMs));
      session.destroy();
    },
  };
}

/** Header blocks with one huge field or thousands of fields. */
const hugeHeaders: Attack = {
  name: 'header blocks with a huge field and with thousands of fields',
  async run(target) {
    const session = await openSession(target, {}, { maxSendHeaderBlockLength: 4 * 1024 * 1024, maxHeaderListPairs: 100_000 });
    if (session === undefined) return;
    const many: Record<string, string> = {};
    for (let i = 0; i < 5_000; i++) many[`x-field-${i}`] = 'v';
    const streams = [
      request(session, target.smallPath, { 'x-huge': 'a'.repeat(1024 * 1024) }),
      request(session, target.smallPath, many),
      request(session, target.smallPath, { cookie: Array.from({ length: 3_000 }, (_, i) => `c${i}=${'x'.repeat(20)}`) }),
    ];
    await withDeadline(Promise.all(streams.map((stream) => (stream === undefined ? undefined : eventOf(stream, 'close')))));
    session.destroy();
  },
};

// Raw HTTP/2 frames, for what node:http2 refuses to send.
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 };
/** `:method GET`, `:scheme https`, `:path /` from the HPACK static table, `:authority localhost` as a literal. */
const GET_ROOT = Buffer.concat([Buffer.from([0x82, 0x87, 0x84, 0x41, 0x09]), Buffer.from('localhost', 'latin1')]);

/** Opens a TLS connection speaking h2 and writes `bytes` after the preface, then waits for the server to close or `holdMs`. */
async function rawH2(target: Target, bytes: Buffer[], holdMs = STEP_MS): Promise<void> {
  const socket = tlsConnect({ host: '127.0.0.1', port: target.httpsPort, servername: 'localhost', ALPNProtocols: ['h2'], rejectUnauthorized: false });
  socket.on('error', ignore);
  // Reads and discards what the server says, so only the attack decides the pace.
  socket.on('data', ignore);
  const closed = eventOf(socket, 'close');
  await withDeadline(eventOf(socket, 'secureConnect', 'close'));
  if (!socket.destroyed) {
    socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0), ...bytes]));
  }
  await withDeadline(closed, holdMs);
  socket.destroy();
}

/** A burst of frames a server must refuse: wrong stream ids, bad lengths, garbage HPACK, a CONTINUATION flood. */
const badFrames: Attack = {
  name: 'a burst of invalid frames',
  async run(target) {
    const bursts: Buffer[][] = [
      [frame(FRAME.DATA, 0, 0, Buffer.from('data on stream 0'))],
      [frame(FRAME.HEADERS, 0x4, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))],
      [frame(FRAME.HEADERS, 0x5, 2, GET_ROOT)],
      [frame(FRAME.WINDOW_UPDATE, 0, 0, Buffer.from([0, 0, 0, 0]))],
      [frame(FRAME.SETTINGS, 0, 0, Buffer.from([0, 4, 0xff, 0xff, 0xff, 0xff]))],
      [frame(FRAME.PING, 0, 0, Buffer.from([1, 2, 3]))],
      [frame(FRAME.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 1, 16]))],
      [frame(FRAME.RST_STREAM, 0, 7, Buffer.from([0, 0, 0, 1]))],
      [frame(0xfa, 0xff, 3, Buffer.alloc(64, 0xee)), frame(FRAME.HEADERS, 0x5, 5, GET_ROOT), frame(FRAME.DATA, 0x1, 5, Buffer.alloc(32))],
      [frame(FRAME.HEADERS, 0x1, 1, GET_ROOT), ...Array.from({ length: 2_000 }, () => frame(FRAME.CONTINUATION, 0, 1, Buffer.from([0x40, 0x01, 0x78, 0x01, 0x79])))],
      [frame(FRAME.HEADERS, 0x5, 1, GET_ROOT), frame(FRAME.HEADERS, 0x5, 1, GET_ROOT), frame(FRAME.DATA, 0, 1, Buffer.alloc(100_000))],
      [Buffer.from([0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]), Buffer.alloc(1024)],
    ];
    await Promise.all(bursts.map((burst) => rawH2(target, burst)));
  },
};

/** Thousands of SETTINGS and PING frames, written without reading any answer. */
const settingsAndPingFlood: Attack = {
  name: 'a flood of SETTINGS and PING frames',
  async run(target) {
    const flood: Buffer[] = [];
    for (let i = 0; i < 20_000; i++) {
      flood.push(i % 2 === 0 ? frame(FRAME.SETTINGS, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100])) : frame(FRAME.PING, 0, 0, Buffer.alloc(8, i & 0xff)));
    }
    await rawH2(target, flood);
  },
};

/** Requests that reach the responder and are reset from the raw side, thousands at a time (rapid reset). */
const rapidReset: Attack = {
  name: 'rapid reset: HEADERS then RST_STREAM, thousands of times',
  async run(target) {
    const frames: Buffer[] = [];
    for (let id = 1; id < 2 * 5_000; id += 2) {
      frames.push(frame(FRAME.HEADERS, 0x5, id, GET_ROOT), frame(FRAME.RST_STREAM, 0, id, Buffer.from([0, 0, 0, constants.NGHTTP2_CANCEL])));
    }
    await rawH2(target, frames);
  },
};

/** More streams at once than the server allows (128), each asking for a big file: the extra ones are refused. */
const beyondConcurrency: Attack = {
  name: 'thousands of streams at once, beyond the concurrency limit',
  async run(target) {
    const path = Buffer.from(target.bigPath, 'latin1');
    const headers = Buffer.concat([Buffer.from([0x82, 0x87, 0x44, path.length]), path, GET_ROOT.subarray(3)]);
    const frames: Buffer[] = [];
    for (let id = 1; id < 2 * 3_000; id += 2) frames.push(frame(FRAME.HEADERS, 0x5, id, headers));
    await rawH2(target, frames);
  },
};

/** HTTP/1.1: the socket closed while a big file is being sent (plain, and over TLS). */
const http1ClosedMidFile: Attack = {
  name: 'HTTP/1.1 socket closed mid-file',
  async run(target) {
    const attempt = async (socket: Socket): Promise<void> => {
      socket.on('error', ignore);
      const closed = eventOf(socket, 'close');
      const got = eventOf(socket, 'data', 'close');
      socket.write(`GET ${target.bigPath} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      await withDeadline(got);
      socket.destroy();
      await withDeadline(closed);
    };
    const plain = netConnect(target.httpPort, '127.0.0.1');
    await withDeadline(eventOf(plain, 'connect', 'close'));
    await attempt(plain);
    const secure = tlsConnect({ host: '127.0.0.1', port: target.httpsPort, servername: 'localhost', ALPNProtocols: ['http/1.1'], rejectUnauthorized: false });
    await withDeadline(eventOf(secure, 'secureConnect', 'close'));
    await attempt(secure);
  },
};

export const attacks = {
  resetProtocolError: resetMidFile(constants.NGHTTP2_PROTOCOL_ERROR, 'PROTOCOL_ERROR'),
  resetInternalError: resetMidFile(constants.NGHTTP2_INTERNAL_ERROR, 'INTERNAL_ERROR'),
  resetCancel: resetMidFile(constants.NGHTTP2_CANCEL, 'CANCEL'),
  openAndCancel: openAndCancel(5_000),
  resetAfterHeaders: resetAfterHeaders(200),
  destroyMidResponse,
  goawayMidResponse,
  neverReads: neverReads(64, 1_000),
  hugeHeaders,
  badFrames,
  settingsAndPingFlood,
  rapidReset,
  beyondConcurrency,
  http1ClosedMidFile,
} satisfies Record<string, Attack>;

/** Every attack, for running them all at once. */
export const allAttacks: readonly Attack[] = Object.values(attacks);
