/**
 * Cuts a stream of concatenated JSON values (`{…}{…}`, or one per line) into
 * the text of each value, as Go's `json.Decoder` reads grpc-gateway request
 * bodies: a streaming gateway call carries one request message per value.
 *
 * It only finds where values end (brackets outside strings, string escapes);
 * `JSON.parse` checks each value. Top-level values must be objects, arrays or
 * strings: a bare number or literal has no closing character to wait for,
 * and no etcd request is one.
 */
export interface JsonValueSplitter {
  /**
   * Feeds more text; returns the values it completed, in order. At a
   * character that cannot start a value it stops and sets `error`: the values
   * before it are still returned (Go's decoder, too, only fails when asked
   * for the next value), and later pushes return nothing.
   */
  push(text: string): string[];
  /** Set once the input cannot be JSON values any more. */
  readonly error: SyntaxError | undefined;
  /** True while a value is partly read: input ending now is "unexpected EOF". */
  readonly pending: boolean;
  /** Characters of the partly read value, to bound what one message may buffer. */
  readonly pendingLength: number;
}

const openBrace = 0x7b; // {
const closeBrace = 0x7d; // }
const openBracket = 0x5b; // [
const closeBracket = 0x5d; // ]
const quote = 0x22; // "
const backslash = 0x5c; // \

/**
 * Go's `encoding/json` refuses values nested deeper than this (since Go
 * 1.15; etcd 3.4.23 is built with Go 1.19) with a syntax error at the first
 * bracket past it, before decoding anything: etcd's gateway answers a body
 * nested deeper (a txn past 3,334 levels) with InvalidArgument `invalid
 * character '[' exceeded max depth`, whatever its method. Checked here too,
 * which also keeps what reaches `JSON.parse` and the decoder bounded.
 */
export const maxNestingDepth = 10_000;

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

export function createJsonValueSplitter(): JsonValueSplitter {
  return new LocalJsonValueSplitter();
}

/**
 * A class rather than an object literal with getters over closures: one is
 * made per gateway request, and a literal's getters are held from the old
 * generation, which keeps the state they close over alive through young
 * collections (BENCHMARKS.md, "Requests that outlived their answers").
 */
class LocalJsonValueSplitter implements JsonValueSplitter {
  error: SyntaxError | undefined = undefined;
  /** Text of the current value taken from earlier chunks. */
  private carried = "";
  private reading = false;
  private depth = 0;
  private inString = false;
  private escaped = false;

  get pending(): boolean {
    return this.reading;
  }

  get pendingLength(): number {
    return this.carried.length;
  }

  push(text: string): string[] {
    const values: string[] = [];
    if (this.error !== undefined) return values;
    // The state in locals for the loop, written back however it ends.
    let { carried, reading, depth, inString, escaped } = this;
    try {
      let start = 0;
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (!reading) {
          if (isJsonSpace(c)) continue;
          reading = true;
          start = i;
          if (c === openBrace || c === openBracket) {
            depth = 1;
          } else if (c === quote) {
            depth = 0;
            inString = true;
          } else {
            reading = false;
            this.error = new SyntaxError(
              `invalid character '${text[i]}' looking for beginning of value`,
            );
            return values;
          }
          continue;
        }
        let done = false;
        if (inString) {
          if (escaped) escaped = false;
          else if (c === backslash) escaped = true;
          else if (c === quote) {
            inString = false;
            done = depth === 0;
          }
        } else if (c === quote) {
          inString = true;
        } else if (c === openBrace || c === openBracket) {
          if (++depth > maxNestingDepth) {
            reading = false;
            this.error = new SyntaxError(`invalid character '${text[i]}' exceeded max depth`);
            return values;
          }
        } else if (c === closeBrace || c === closeBracket) {
          depth--;
          done = depth === 0;
        }
        if (done) {
          values.push(carried + text.slice(start, i + 1));
          carried = "";
          reading = false;
        }
      }
      if (reading) carried += text.slice(start);
      return values;
    } finally {
      this.carried = carried;
      this.reading = reading;
      this.depth = depth;
      this.inString = inString;
      this.escaped = escaped;
    }
  }
}
