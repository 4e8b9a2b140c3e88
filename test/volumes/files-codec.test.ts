// The file server's SFTP v3 codec: framing (split at every byte boundary,
// oversize, runt), request parsing (every type, truncated → bad), and the
// bytes of each reply as hex fixtures.
import t from 'tap';
import {
  encodeAttrs,
  encodeData,
  encodeHandle,
  encodeName,
  encodeStatus,
  encodeStatVfs,
  encodeVersion,
  MAX_PACKET_BYTES,
  PacketFramer,
  parseRequest,
} from '../../src/volumes/server/codec.js';
import { EXTENSIONS, FX } from '../../src/volumes/server/protocol.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A packet body: type, then uint32 fields and length-prefixed strings. */
function body(type: number, ...fields: (number | bigint | string)[]): Buffer {
  const parts = [Buffer.from([type])];
  for (const f of fields) {
    if (typeof f === 'number') {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(f);
      parts.push(b);
    } else if (typeof f === 'bigint') {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(f);
      parts.push(b);
    } else {
      const s = Buffer.from(f, 'latin1');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(s.length);
      parts.push(len, s);
    }
  }
  return Buffer.concat(parts);
}

const framed = (b: Buffer): Buffer => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
};

t.test('the framer returns the same packets however the stream is split', async (t) => {
  const packets = [body(1, 3), body(17, 7, '/a/b'), body(6, 8, 'h', 0n, 'x'.repeat(300))];
  const stream = Buffer.concat(packets.map(framed));
  for (let cut = 0; cut <= stream.length; cut++) {
    for (const step of [1, 0]) {
      const f = new PacketFramer();
      const got: Buffer[] = [];
      const feed = (chunk: Buffer): void => {
        f.push(chunk);
        for (let p = f.next(); p !== undefined; p = f.next()) got.push(p as Buffer);
      };
      if (step === 1 && cut % 7 === 0) for (const byte of stream) feed(Buffer.from([byte]));
      else {
        feed(stream.subarray(0, cut));
        feed(stream.subarray(cut));
      }
      if (!got.every((p, i) => p.equals(packets[i] as Buffer)) || got.length !== packets.length) {
        t.fail(`split at ${cut} (byte-wise: ${step === 1 && cut % 7 === 0})`);
        return;
      }
      t.equal(f.buffered, 0);
    }
  }
  t.pass('every split');
});

t.test('a length over the limit or under five bytes is refused before the body arrives', async (t) => {
  const over = new PacketFramer();
  over.push(hex('00041000'));
  t.equal(over.next(), 'oversize');
  const limit = new PacketFramer();
  const len = Buffer.alloc(4);
  len.writeUInt32BE(MAX_PACKET_BYTES);
  limit.push(len);
  t.equal(limit.next(), undefined, 'the limit itself is fine, waiting for the body');
  const runt = new PacketFramer();
  runt.push(hex('00000004 01000000'));
  t.equal(runt.next(), 'runt');
  const empty = new PacketFramer();
  empty.push(hex('0000'));
  t.equal(empty.next(), undefined, 'a partial length waits');
});

t.test('every request parses; truncated ones become bad with their id', async (t) => {
  const attrs = [0x0f, 10n, 1000, 1001, 0o100644, 5, 6] as const;
  const cases: [Buffer, unknown][] = [
    [body(1, 3), { type: 'init', version: 3 }],
    [
      body(3, 9, '/f', 0x1a, ...attrs),
      {
        type: 'open',
        id: 9,
        path: '/f',
        pflags: 0x1a,
        attrs: { size: 10, uid: 1000, gid: 1001, permissions: 0o100644, atime: 5, mtime: 6 },
      },
    ],
    [body(4, 1, 'h'), { type: 'close', id: 1, handle: 'h' }],
    [body(5, 2, 'h', 7n, 32768), { type: 'read', id: 2, handle: 'h', offset: 7, length: 32768 }],
    [body(6, 3, 'h', 8n, 'ab'), { type: 'write', id: 3, handle: 'h', offset: 8, data: Buffer.from('ab') }],
    [body(7, 4, 'p'), { type: 'lstat', id: 4, path: 'p' }],
    [body(8, 5, 'h'), { type: 'fstat', id: 5, handle: 'h' }],
    [body(9, 6, 'p', 0x04, 0o755), { type: 'setstat', id: 6, path: 'p', attrs: { permissions: 0o755 } }],
    [body(10, 7, 'h', 0x01, 3n), { type: 'fsetstat', id: 7, handle: 'h', attrs: { size: 3 } }],
    [body(11, 8, '/'), { type: 'opendir', id: 8, path: '/' }],
    [body(12, 9, 'h'), { type: 'readdir', id: 9, handle: 'h' }],
    [body(13, 10, 'p'), { type: 'remove', id: 10, path: 'p' }],
    [body(14, 11, 'd', 0), { type: 'mkdir', id: 11, path: 'd', attrs: {} }],
    [body(15, 12, 'd'), { type: 'rmdir', id: 12, path: 'd' }],
    [body(16, 13, '.'), { type: 'realpath', id: 13, path: '.' }],
    [body(17, 14, 'p'), { type: 'stat', id: 14, path: 'p' }],
    [body(18, 15, 'a', 'b'), { type: 'rename', id: 15, oldPath: 'a', newPath: 'b' }],
    [body(19, 16, 'l'), { type: 'readlink', id: 16, path: 'l' }],
    [body(20, 17, '..data/x', '/x'), { type: 'symlink', id: 17, target: '..data/x', linkPath: '/x' }],
    [body(200, 18, 'posix-rename@openssh.com', 'a', 'b'), { type: 'posix-rename', id: 18, oldPath: 'a', newPath: 'b' }],
    [body(200, 19, 'hardlink@openssh.com', 'a', 'b'), { type: 'hardlink', id: 19, oldPath: 'a', newPath: 'b' }],
    [body(200, 20, 'statvfs@openssh.com', '/'), { type: 'statvfs', id: 20, path: '/' }],
    [body(200, 21, 'fsync@openssh.com', 'h'), { type: 'fsync', id: 21, handle: 'h' }],
    [body(200, 22, 'limits@openssh.com'), { type: 'unsupported', id: 22, what: 'limits@openssh.com' }],
    [body(42, 23), { type: 'unsupported', id: 23, what: 'packet type 42' }],
    [body(9, 6, 'p', 0x80000000, 1, 'k', 'v'), { type: 'setstat', id: 6, path: 'p', attrs: {} }],
    [Buffer.concat([body(17, 30), hex('000000ff')]), { type: 'bad', id: 30 }],
    [body(5, 31, 'h', 2n ** 60n, 1), { type: 'bad', id: 31 }],
    [body(3, 32, '/f'), { type: 'bad', id: 32 }],
    [hex('11 0000'), { type: 'bad', id: 0 }],
  ];
  for (const [bytes, want] of cases) t.same(parseRequest(bytes), want, `${bytes.subarray(0, 12).toString('hex')}…`);
  t.equal(parseRequest(body(18, 1, '\xff\xfe', 'b')).type, 'rename');
  t.equal((parseRequest(body(17, 1, '\xff\xfe')) as { path: string }).path, '\xff\xfe', 'non-UTF-8 bytes survive');
});

t.test('reply bytes', async (t) => {
  t.equal(
    encodeStatus(7, FX.NO_SUCH_FILE, 'gone').toString('hex'),
    `00000015 65 00000007 00000002 00000004 ${Buffer.from('gone').toString('hex')} 00000000`.replace(/ /g, ''),
  );
  t.equal(
    encodeHandle(1, '\x00\x00\x00\x02').toString('hex'),
    '0000000d' + '66' + '00000001' + '00000004' + '00000002',
  );
  t.equal(encodeData(2, Buffer.from('hi')).toString('hex'), '0000000b' + '67' + '00000002' + '00000002' + '6869');
  t.equal(encodeAttrs(3, {}).toString('hex'), '00000009' + '69' + '00000003' + '00000000');
  t.equal(
    encodeAttrs(3, { size: 5, uid: 1, gid: 2, permissions: 0o100644, atime: 9, mtime: 10 }).toString('hex'),
    '00000025' +
      '69' +
      '00000003' +
      '0000000f' +
      '0000000000000005' +
      '00000001' +
      '00000002' +
      '000081a4' +
      '00000009' +
      '0000000a',
  );
  t.equal(
    encodeName(4, [{ name: '/', longname: '/', attrs: {} }]).toString('hex'),
    '00000017' + '68' + '00000004' + '00000001' + '00000001' + '2f' + '00000001' + '2f' + '00000000',
  );
  const version = encodeVersion(EXTENSIONS);
  t.equal(version.subarray(0, 9).toString('hex'), `${version.readUInt32BE(0).toString(16).padStart(8, '0')}0200000003`);
  const pair = (name: string, data: string): string => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(data.length);
    return `${name}${b.toString('latin1')}${data}`;
  };
  t.ok(version.toString('latin1').includes(pair('posix-rename@openssh.com', '1')));
  t.ok(version.toString('latin1').includes(pair('statvfs@openssh.com', '2')));
  t.equal(version.readUInt32BE(0), version.length - 4);
  const vfs = encodeStatVfs(5, {
    bsize: 4096n,
    frsize: 4096n,
    blocks: 1n,
    bfree: 2n,
    bavail: 3n,
    files: 4n,
    ffree: 5n,
    favail: 6n,
    fsid: 7n,
    flag: 8n,
    namemax: 255n,
  });
  t.equal(vfs.length, 4 + 1 + 4 + 11 * 8);
  t.equal(vfs[4], 201);
  t.equal(vfs.readBigUInt64BE(9 + 10 * 8), 255n);
  t.equal(
    encodeName(1, [{ name: '\xff', longname: '', attrs: {} }])
      .subarray(17, 18)
      .toString('hex'),
    'ff',
    'latin1 bytes',
  );
});
