import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpStore } from './tcp-store.js';

/**
 * A stand-in for c10d's TCPStore server, speaking its wire (TCPStoreLibUvBackend.cpp's commands):
 * validate, ping, set, get, add, check, wait and cancel-wait. `pingReply` lets a test be a server
 * that is no store.
 */
class FakeTcpStore {
  readonly values = new Map<string, Buffer>();
  readonly commands: number[] = [];
  private readonly parked: { socket: Socket; keys: string[] }[] = [];
  private readonly server: Server;
  pingReply: ((nonce: number) => number) | null = null;

  constructor() {
    this.server = createServer((socket) => {
      let pending = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        for (
          let used = this.command(socket, pending);
          used > 0;
          used = this.command(socket, pending)
        )
          pending = pending.subarray(used);
      });
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve) =>
      this.server.listen(0, '127.0.0.1', () =>
        resolve((this.server.address() as { port: number }).port),
      ),
    );
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Parses and answers one whole command at the front of `b`; returns its length, 0 if it is not all here. */
  private command(socket: Socket, b: Buffer): number {
    if (b.length < 1) return 0;
    let at = 1;
    const need = (n: number) => (at + n <= b.length ? true : null);
    const u64 = () => {
      if (!need(8)) return null;
      const v = Number(b.readBigUInt64LE(at));
      at += 8;
      return v;
    };
    const bytes = () => {
      const n = u64();
      if (n === null || !need(n)) return null;
      const v = b.subarray(at, at + n);
      at += n;
      return Buffer.from(v);
    };
    const type = b[0] as number;
    switch (type) {
      case 0: // validate
        if (!need(4)) return 0;
        expect(b.readUInt32LE(at)).toBe(0x3c85f7ce);
        at += 4;
        break;
      case 13: {
        // ping
        if (!need(4)) return 0;
        const nonce = b.readUInt32LE(at);
        at += 4;
        const reply = Buffer.alloc(4);
        reply.writeUInt32LE(this.pingReply ? this.pingReply(nonce) : nonce);
        socket.write(reply);
        break;
      }
      case 1: {
        // set
        const key = bytes();
        const value = key && bytes();
        if (!key || !value) return 0;
        this.values.set(key.toString(), value);
        this.release();
        break;
      }
      case 3: {
        // get
        const key = bytes();
        if (!key) return 0;
        const value = this.values.get(key.toString()) ?? Buffer.alloc(0);
        const head = Buffer.alloc(8);
        head.writeBigUInt64LE(BigInt(value.length));
        socket.write(Buffer.concat([head, value]));
        break;
      }
      case 4: {
        // add
        const key = bytes();
        if (!key || !need(8)) return 0;
        const delta = b.readBigInt64LE(at);
        at += 8;
        const value = BigInt(this.values.get(key.toString())?.toString() ?? '0') + delta;
        this.values.set(key.toString(), Buffer.from(value.toString()));
        const reply = Buffer.alloc(8);
        reply.writeBigInt64LE(value);
        socket.write(reply);
        this.release();
        break;
      }
      case 5:
      case 6: {
        // check, wait
        const count = u64();
        if (count === null) return 0;
        const keys: string[] = [];
        for (let i = 0; i < count; i++) {
          const key = bytes();
          if (!key) return 0;
          keys.push(key.toString());
        }
        const ready = keys.every((k) => this.values.has(k));
        if (type === 5) socket.write(Buffer.from([ready ? 0 : 1]));
        else if (ready) socket.write(Buffer.from([0]));
        else this.parked.push({ socket, keys });
        break;
      }
      case 12: {
        // cancel wait
        const index = this.parked.findIndex((p) => p.socket === socket);
        if (index >= 0) this.parked.splice(index, 1);
        socket.write(Buffer.from([1]));
        break;
      }
      default:
        throw new Error(`the fake store has no command ${type}`);
    }
    this.commands.push(type);
    return at;
  }

  /** Answers the waits whose keys are all set now. */
  private release(): void {
    for (const p of [...this.parked]) {
      if (!p.keys.every((k) => this.values.has(k))) continue;
      this.parked.splice(this.parked.indexOf(p), 1);
      p.socket.write(Buffer.from([0]));
    }
  }
}

const stores: FakeTcpStore[] = [];
const clients: TcpStore[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

async function started(): Promise<[FakeTcpStore, number]> {
  const store = new FakeTcpStore();
  stores.push(store);
  return [store, await store.listen()];
}

async function client(port: number, timeoutMs = 2000): Promise<TcpStore> {
  const c = await TcpStore.connect('127.0.0.1', port, { timeoutMs });
  clients.push(c);
  return c;
}

describe("the TCP store client (c10d's wire)", () => {
  it('validates and pings on connect, then sets and gets bytes under the "/" prefix', async () => {
    const [store, port] = await started();
    const c = await client(port);
    expect(store.commands.slice(0, 2)).toEqual([0, 13]);
    const id = Uint8Array.from({ length: 128 }, (_, i) => (i * 37) & 0xff);
    await c.set('0', id);
    // A set has no answer (as in c10d): the get after it, on the same connection, comes after it.
    expect([...(await c.get('0'))]).toEqual([...id]);
    expect([...(store.values.get('/0') ?? [])]).toEqual([...id]);
  });

  it('a get waits until another client sets the key, as a rank waits for rank 0 to publish', async () => {
    const [, port] = await started();
    const [reader, writer] = [await client(port), await client(port)];
    const got = reader.get('nccl_id');
    await new Promise((resolve) => setTimeout(resolve, 50));
    await writer.set('nccl_id', Uint8Array.of(1, 2, 3));
    expect([...(await got)]).toEqual([1, 2, 3]);
  });

  it('adds to counters and checks keys', async () => {
    const [, port] = await started();
    const c = await client(port);
    expect(await c.add('joined', 1n)).toBe(1n);
    expect(await c.add('joined', 2n)).toBe(3n);
    expect(await c.check(['joined'])).toBe(true);
    expect(await c.check(['joined', 'absent'])).toBe(false);
  });

  it('a wait that times out is cancelled at the store and names the keys; the connection goes on', async () => {
    const [store, port] = await started();
    const c = await client(port);
    await expect(c.wait(['never'], 100)).rejects.toThrow(
      /wait timeout after 100 ms for keys \/never/,
    );
    expect(store.commands).toContain(12);
    await c.set('after', Uint8Array.of(9));
    expect([...(await c.get('after'))]).toEqual([9]);
  });

  it('refuses a server that is no store, and says where nothing answers', async () => {
    const [store, port] = await started();
    store.pingReply = (nonce) => nonce + 1;
    await expect(client(port)).rejects.toThrow(/is not a TCP store/);
    await store.close();
    stores.splice(0);
    await expect(client(port)).rejects.toThrow(`cannot reach the TCP store at 127.0.0.1:${port}`);
  });
});
