// A client of PyTorch's c10d TCPStore, the key-value server a `torch.distributed` process group
// meets at (`init_process_group(init_method="tcp://host:port")`): how this engine joins a
// trainer's weight-update group (issue 19) and reads what the group's rank 0 publishes there.
// The wire is c10d's (TCPStore.cpp, TCPStoreBackend.hpp): a query-type byte, then little-endian
// values; strings and byte strings as a uint64 length and the bytes. Every key travels with
// the client's prefix "/", as TCPStore's own clients send it.
import { connect, type Socket } from 'node:net';

/** c10d's QueryType, in its order (the wire value is the index). */
const QUERY = {
  validate: 0,
  set: 1,
  compareSet: 2,
  get: 3,
  add: 4,
  check: 5,
  wait: 6,
  getNumKeys: 7,
  deleteKey: 8,
  append: 9,
  multiGet: 10,
  multiSet: 11,
  cancelWait: 12,
  ping: 13,
} as const;
const VALIDATION_MAGIC = 0x3c85f7ce;
const CHECK_READY = 0;
const WAIT_STOPPED = 0;
const WAIT_CANCELED = 1;
const KEY_PREFIX = '/';

export interface TcpStoreOptions {
  /** How long connect and each wait or get may take (c10d's store timeout). */
  timeoutMs?: number;
}

/** One query's bytes: its type, then each part in order. */
class Query {
  private readonly parts: Buffer[] = [];
  constructor(type: number) {
    this.parts.push(Buffer.from([type]));
  }
  uint32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value);
    this.parts.push(b);
    return this;
  }
  uint64(value: number | bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(value));
    this.parts.push(b);
    return this;
  }
  int64(value: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(value);
    this.parts.push(b);
    return this;
  }
  bytes(value: Uint8Array): this {
    this.uint64(value.byteLength);
    this.parts.push(Buffer.from(value));
    return this;
  }
  string(value: string): this {
    return this.bytes(Buffer.from(value, 'utf8'));
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export class TcpStore {
  private received = Buffer.alloc(0);
  private waiting: {
    bytes: number;
    resolve: (b: Buffer) => void;
    reject: (e: Error) => void;
  } | null = null;
  private failure: Error | null = null;
  /** Queries run one at a time, as TCPStore's lock runs them. */
  private last: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly socket: Socket,
    readonly address: string,
    private readonly timeoutMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.deliver();
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      this.waiting?.reject(this.failure);
      this.waiting = null;
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error(`the TCP store at ${address} closed the connection`)));
  }

  /** Connects to the store at host:port and checks it is one (c10d's validate, then a ping). */
  static async connect(
    host: string,
    port: number,
    options: TcpStoreOptions = {},
  ): Promise<TcpStore> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const address = `${host}:${port}`;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host, port, noDelay: true });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`no TCP store answered at ${address} within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`cannot reach the TCP store at ${address}: ${error.message}`));
      });
    });
    const store = new TcpStore(socket, address, timeoutMs);
    try {
      await store.run(async () => {
        store.send(new Query(QUERY.validate).uint32(VALIDATION_MAGIC));
        const nonce = process.pid >>> 0;
        store.send(new Query(QUERY.ping).uint32(nonce));
        const answer = (await store.read(4, timeoutMs)).readUInt32LE();
        if (answer !== nonce)
          throw new Error(
            `${address} is not a TCP store: it answered a ping with ${answer}, not ${nonce}`,
          );
      });
    } catch (error) {
      store.close();
      throw error;
    }
    return store;
  }

  set(key: string, value: Uint8Array): Promise<void> {
    return this.run(async () => {
      this.send(new Query(QUERY.set).string(KEY_PREFIX + key).bytes(value));
    });
  }

  /** The key's value, once some client has set it (within the timeout). */
  get(key: string): Promise<Uint8Array> {
    return this.run(async () => {
      await this.waitFor([KEY_PREFIX + key], this.timeoutMs);
      this.send(new Query(QUERY.get).string(KEY_PREFIX + key));
      return this.readBytes();
    });
  }

  /** Adds `delta` to the key's counter (created at 0) and returns its new value. */
  add(key: string, delta: bigint): Promise<bigint> {
    return this.run(async () => {
      this.send(new Query(QUERY.add).string(KEY_PREFIX + key).int64(delta));
      return (await this.read(8, this.timeoutMs)).readBigInt64LE();
    });
  }

  /** Whether every key is set now. */
  check(keys: readonly string[]): Promise<boolean> {
    return this.run(async () => {
      const query = new Query(QUERY.check).uint64(keys.length);
      for (const key of keys) query.string(KEY_PREFIX + key);
      this.send(query);
      return (await this.read(1, this.timeoutMs))[0] === CHECK_READY;
    });
  }

  /** Resolves once every key is set; rejects after `timeoutMs` (the store forgets the wait). */
  wait(keys: readonly string[], timeoutMs = this.timeoutMs): Promise<void> {
    return this.run(() =>
      this.waitFor(
        keys.map((k) => KEY_PREFIX + k),
        timeoutMs,
      ),
    );
  }

  close(): void {
    this.socket.destroy();
  }

  private async waitFor(keys: readonly string[], timeoutMs: number): Promise<void> {
    const query = new Query(QUERY.wait).uint64(keys.length);
    for (const key of keys) query.string(key);
    this.send(query);
    try {
      const [answer] = await this.read(1, timeoutMs);
      if (answer !== WAIT_STOPPED) throw new Error(`the TCP store answered a wait with ${answer}`);
      return;
    } catch (error) {
      if (!(error instanceof WaitTimeout)) throw error;
    }
    // As c10d does: cancel, then read what the store says (it may have stopped the wait first).
    this.send(new Query(QUERY.cancelWait));
    let [answer] = await this.read(1, this.timeoutMs);
    if (answer === WAIT_STOPPED) [answer] = await this.read(1, this.timeoutMs);
    if (answer !== WAIT_CANCELED)
      throw new Error(`the TCP store answered a wait cancel with ${answer}`);
    throw new Error(
      `wait timeout after ${timeoutMs} ms for keys ${keys.join(', ')} at ${this.address}`,
    );
  }

  private run<T>(query: () => Promise<T>): Promise<T> {
    const next = this.last.then(query, query);
    this.last = next.catch(() => undefined);
    return next;
  }

  private send(query: Query): void {
    if (this.failure) throw this.failure;
    this.socket.write(query.toBuffer());
  }

  private async readBytes(): Promise<Uint8Array> {
    const length = (await this.read(8, this.timeoutMs)).readBigUInt64LE();
    return new Uint8Array(await this.read(Number(length), this.timeoutMs));
  }

  private read(bytes: number, timeoutMs: number): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new WaitTimeout());
      }, timeoutMs);
      this.waiting = {
        bytes,
        resolve: (b) => {
          clearTimeout(timer);
          resolve(b);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.deliver();
    });
  }

  private deliver(): void {
    const waiting = this.waiting;
    if (!waiting || this.received.length < waiting.bytes) return;
    this.waiting = null;
    const taken = this.received.subarray(0, waiting.bytes);
    this.received = this.received.subarray(waiting.bytes);
    waiting.resolve(Buffer.from(taken));
  }
}

/** A read that outlived its time; a wait turns it into a cancel. */
class WaitTimeout extends Error {
  constructor() {
    super('the TCP store did not answer in time');
  }
}
