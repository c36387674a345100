/**
 * A pickle reader that executes nothing: it runs the opcodes a torch ForkingPickler writes for
 * named tensors and SGLang's buckets of them (protocol 2-5) and resolves each global through `globals`, which
 * either names an allow-listed callable (its result is a plain descriptor built here, never
 * Python code) or refuses it. Any other opcode or global is a PickleRefused error.
 */
export class PickleRefused extends Error {}

/** A module attribute named by GLOBAL / STACK_GLOBAL. */
export interface PickleGlobal {
  readonly module: string;
  readonly name: string;
}

/** What REDUCE does with an allow-listed global: builds a value from the arguments. */
export type PickleCallable = (args: readonly unknown[]) => unknown;

/**
 * What NEWOBJ and BUILD do with an allow-listed class (a dataclass: `cls.__new__(cls)`, then
 * its `__dict__` set from a dict): `fields` checks the dict and gives the plain object's fields.
 */
export interface PickleClass {
  readonly fields: (state: Map<unknown, unknown>) => object;
}

/**
 * Resolves an allow-listed global to what REDUCE may call, to a class NEWOBJ may make, or to
 * null for one that is only passed as an argument (a dtype); throws PickleRefused for any other.
 */
export type PickleGlobals = (g: PickleGlobal) => PickleCallable | PickleClass | null;

const MARK = Symbol('mark');

/** The object `bytes` (a whole pickle) stands for; globals only through `globals`. */
export function readPickle(bytes: Uint8Array, globals: PickleGlobals): unknown {
  const data = new PickleCursor(bytes);
  const text = new TextDecoder('utf-8', { fatal: true });
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  const resolved = new Map<unknown, PickleCallable | PickleClass | null>();
  // Objects NEWOBJ made, not yet built: the same object stays on the stack and in the memo.
  const unbuilt = new Map<object, PickleClass>();
  const u8 = () => data.u8();
  const u16 = () => data.view(2).getUint16(0, true);
  const u32 = () => data.view(4).getUint32(0, true);
  const u64 = () => data.length(data.view(8).getBigUint64(0, true));
  const take = (n: number) => data.take(n);
  const pop = () => {
    if (stack.length === 0) throw new PickleRefused('pickle: stack underflow');
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    const mark = stack.lastIndexOf(MARK);
    if (mark < 0) throw new PickleRefused('pickle: no mark');
    const items = stack.splice(mark);
    items.shift();
    return items;
  };
  const top = () => {
    if (stack.length === 0) throw new PickleRefused('pickle: stack underflow');
    return stack[stack.length - 1];
  };
  const pushGlobal = (module: string, name: string) => {
    const g: PickleGlobal = Object.freeze({ module, name });
    resolved.set(g, globals(g));
    stack.push(g);
  };
  const get = (index: number) => {
    if (!memo.has(index)) throw new PickleRefused(`pickle: memo ${index} was never set`);
    return memo.get(index);
  };
  for (;;) {
    const op = String.fromCharCode(u8());
    switch (op) {
      case '\x80': {
        const protocol = u8();
        if (protocol < 2 || protocol > 5) throw new PickleRefused(`pickle: protocol ${protocol}`);
        break;
      }
      case '\x95':
        u64();
        break;
      case '.':
        if (stack.length !== 1) throw new PickleRefused('pickle: not one value at STOP');
        return stack[0];
      case '(':
        stack.push(MARK);
        break;
      case ']':
      case ')':
        stack.push([]);
        break;
      case '}':
        stack.push(new Map());
        break;
      case 'N':
        stack.push(null);
        break;
      case '\x88':
        stack.push(true);
        break;
      case '\x89':
        stack.push(false);
        break;
      case 'K':
        stack.push(u8());
        break;
      case 'M':
        stack.push(u16());
        break;
      case 'J':
        stack.push(data.view(4).getInt32(0, true));
        break;
      case '\x8a': {
        const n = u8();
        const digits = take(n);
        let value = 0n;
        for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(digits[i] as number);
        if (n > 0 && ((digits[n - 1] as number) & 0x80) !== 0) value -= 1n << BigInt(8 * n);
        stack.push(Number.isSafeInteger(Number(value)) ? Number(value) : value);
        break;
      }
      case 'G':
        stack.push(data.view(8).getFloat64(0, false));
        break;
      case '\x8c':
        stack.push(text.decode(take(u8())));
        break;
      case 'X':
        stack.push(text.decode(take(u32())));
        break;
      case '\x8d':
        stack.push(text.decode(take(u64())));
        break;
      case 'C':
        stack.push(new Uint8Array(take(u8())));
        break;
      case 'B':
        stack.push(new Uint8Array(take(u32())));
        break;
      case '\x8e':
        stack.push(new Uint8Array(take(u64())));
        break;
      case '\x94':
        memo.set(memo.size, top());
        break;
      case 'q':
        memo.set(u8(), top());
        break;
      case 'r':
        memo.set(u32(), top());
        break;
      case 'h':
        stack.push(get(u8()));
        break;
      case 'j':
        stack.push(get(u32()));
        break;
      case '\x93': {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          throw new PickleRefused('pickle: STACK_GLOBAL of non-strings');
        pushGlobal(module, name);
        break;
      }
      case 'c': {
        const module = text.decode(data.line());
        pushGlobal(module, text.decode(data.line()));
        break;
      }
      case 't':
        stack.push(popMark());
        break;
      case '\x85':
        stack.push([pop()]);
        break;
      case '\x86': {
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case '\x87': {
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 'a': {
        const value = pop();
        asList(top()).push(value);
        break;
      }
      case 'e': {
        const items = popMark();
        asList(top()).push(...items);
        break;
      }
      case 's': {
        const value = pop();
        const key = pop();
        asDict(top()).set(key, value);
        break;
      }
      case 'u': {
        const items = popMark();
        const dict = asDict(top());
        for (let i = 0; i + 1 < items.length; i += 2) dict.set(items[i], items[i + 1]);
        break;
      }
      case 'R': {
        const args = pop();
        const callable = pop();
        const call = resolved.get(callable);
        if (typeof call !== 'function' || !Array.isArray(args))
          throw new PickleRefused(`pickle: REDUCE of ${describe(callable)} is not allowed`);
        stack.push(call(args));
        break;
      }
      case '\x81': {
        const args = pop();
        const cls = resolved.get(pop());
        if (typeof cls !== 'object' || cls === null || !Array.isArray(args) || args.length > 0)
          throw new PickleRefused('pickle: NEWOBJ of a class not allowed, or with arguments');
        const object = {};
        unbuilt.set(object, cls);
        stack.push(object);
        break;
      }
      case 'b': {
        const state = pop();
        const object = top() as object;
        const cls = unbuilt.get(object);
        if (!cls || !(state instanceof Map))
          throw new PickleRefused('pickle: BUILD other than of a new allowed object from a dict');
        unbuilt.delete(object);
        Object.assign(object, cls.fields(state));
        break;
      }
      default:
        throw new PickleRefused(`pickle: opcode 0x${op.charCodeAt(0).toString(16)} is not allowed`);
    }
  }

  function describe(value: unknown): string {
    if (resolved.has(value)) {
      const g = value as PickleGlobal;
      return `${g.module}.${g.name}`;
    }
    return typeof value;
  }
}

/** Reads a pickle's bytes in order; running past the end is a PickleRefused. */
class PickleCursor {
  private at = 0;

  constructor(private readonly bytes: Uint8Array) {}

  take(n: number): Uint8Array {
    if (this.at + n > this.bytes.length) throw new PickleRefused('pickle: truncated');
    const start = this.at;
    this.at += n;
    return this.bytes.subarray(start, this.at);
  }

  u8(): number {
    return this.take(1)[0] as number;
  }

  view(n: number): DataView {
    const b = this.take(n);
    return new DataView(b.buffer, b.byteOffset, n);
  }

  /** A 64-bit length, refused when past the data. */
  length(n: bigint): number {
    if (n > BigInt(this.bytes.length)) throw new PickleRefused('pickle: a length past the data');
    return Number(n);
  }

  /** The bytes up to the next newline, which is skipped. */
  line(): Uint8Array {
    const end = this.bytes.indexOf(0x0a, this.at);
    if (end < 0) throw new PickleRefused('pickle: truncated');
    const b = this.take(end - this.at);
    this.at += 1;
    return b;
  }
}

function asList(value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new PickleRefused('pickle: APPEND to a non-list');
  return value;
}

function asDict(value: unknown): Map<unknown, unknown> {
  if (!(value instanceof Map)) throw new PickleRefused('pickle: SETITEM on a non-dict');
  return value;
}
