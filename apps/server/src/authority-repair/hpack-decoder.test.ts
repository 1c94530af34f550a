import * as assert from "node:assert/strict";
import * as http2 from "node:http2";
import * as net from "node:net";
import { describe, it } from "node:test";
import { createHpackDecoder, encodeLiteralField } from "./hpack-decoder.js";
import { decodeHuffman } from "./hpack-huffman.js";
import { frameHeaderLength, frameType, headersFragment, readFrameHeader } from "./http2-frames.js";

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ""), "hex");

/**
 * The header blocks a real nghttp2 encoder (Node's HTTP/2 client) sends for
 * `requests`, in order, read off the wire.
 */
async function nghttp2Blocks(requests: http2.OutgoingHttpHeaders[]): Promise<Buffer[]> {
  const blocks: Buffer[] = [];
  let bytes = Buffer.alloc(0);
  const server = net.createServer((socket) => {
    socket.write(Buffer.from([0, 0, 0, frameType.settings, 0, 0, 0, 0, 0]));
    socket.on("data", (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  const session = http2.connect(`http://127.0.0.1:${port}`);
  for (const headers of requests)
    session.request(headers, { endStream: true }).on("error", () => {});
  const deadline = Date.now() + 3000;
  for (;;) {
    blocks.length = 0;
    let pos = 24;
    while (pos + frameHeaderLength <= bytes.length) {
      const h = readFrameHeader(bytes, pos);
      const payload = bytes.subarray(pos + frameHeaderLength, pos + frameHeaderLength + h.length);
      if (h.type === frameType.headers) blocks.push(headersFragment(h.flags, payload) ?? payload);
      pos += frameHeaderLength + h.length;
    }
    if (blocks.length >= requests.length || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  session.destroy();
  server.close();
  return blocks;
}

describe("decodeHuffman", () => {
  it("decodes RFC 7541's examples", () => {
    assert.equal(decodeHuffman(hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff")).toString(), "www.example.com");
    assert.equal(decodeHuffman(hex("a8eb 1064 9cbf")).toString(), "no-cache");
    assert.equal(decodeHuffman(hex("25a8 49e9 5bb8 e8b4 bf")).toString(), "custom-value");
  });

  it("refuses padding that is not a prefix of EOS, and EOS itself", () => {
    assert.throws(() => decodeHuffman(hex("f1e3 c2e5 f23a 6ba0 ab90 f4fe")));
    assert.throws(() => decodeHuffman(hex("ffff ffff")));
    // A whole byte of padding is too long.
    assert.throws(() => decodeHuffman(hex("a8eb 1064 9cbf ff")));
  });

  it("decodes what nghttp2 encodes, for every byte a header value may hold", async () => {
    const values: string[] = [];
    for (let b = 0x20; b <= 0xff; b++) {
      if (b === 0x7f) continue;
      // A symbol between longer runs of short codes, so nghttp2 chooses Huffman.
      values.push(`00000000${String.fromCharCode(b)}00000000`);
    }
    values.push("0000000000\t0000000000");
    const blocks = await nghttp2Blocks(values.map((v, i) => ({ ":path": `/${i}`, "x-v": v })));
    const decoder = createHpackDecoder();
    const decoded = blocks.map((b) => decoder.decode(b).find((f) => f.name === "x-v")?.value);
    assert.deepEqual(decoded, values);
  });
});

describe("createHpackDecoder", () => {
  it("decodes RFC 7541 C.4's requests, dynamic table included", () => {
    const decoder = createHpackDecoder();
    const pairs = (block: string) =>
      decoder.decode(hex(block)).map((f) => [f.representation, f.name, f.value]);
    assert.deepEqual(pairs("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff").at(-1), [
      "incremental",
      ":authority",
      "www.example.com",
    ]);
    assert.deepEqual(pairs("8286 84be 5886 a8eb 1064 9cbf").slice(3), [
      ["indexed", ":authority", "www.example.com"],
      ["incremental", "cache-control", "no-cache"],
    ]);
    assert.deepEqual(
      pairs("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf").slice(3),
      [
        ["indexed", ":authority", "www.example.com"],
        ["incremental", "custom-key", "custom-value"],
      ],
    );
  });

  it("evicts as the encoder does, and applies table size updates", () => {
    const decoder = createHpackDecoder();
    // 4096 / (32 + 1 + 100) = 30 entries fit; the 31st evicts the first.
    const literal = (i: number) =>
      Buffer.concat([Buffer.from([0x40, 1, 0x61, 100]), Buffer.alloc(100, 0x30 + (i % 10))]);
    for (let i = 0; i < 31; i++) decoder.decode(literal(i));
    // Index 62 is the newest, 91 the oldest still there (the second added).
    assert.equal(decoder.decode(Buffer.from([0x80 | 62]))[0]?.value, "0".repeat(100));
    assert.equal(decoder.decode(Buffer.from([0x80 | 91]))[0]?.value, "1".repeat(100));
    assert.throws(() => decoder.decode(Buffer.from([0x80 | 92])), /out of range/);
    // Indexes past 126 take a second byte: 127 + 28 = 155.
    assert.throws(() => decoder.decode(hex("ff 1c")), /index 155 out of range/);
    // Shrinking the table to 0 empties it.
    assert.throws(() => decoder.decode(Buffer.from([0x20, 0x80 | 62])), /out of range/);
  });

  it("re-encodes a literal with another value, as the same kind of representation", () => {
    const decoder = createHpackDecoder();
    for (const block of ["41 03 616263", "01 03 616263", "11 03 616263", "40 01 78 01 79"]) {
      const [field] = decoder.decode(hex(block));
      assert.ok(field !== undefined);
      const again = createHpackDecoder().decode(encodeLiteralField(field, "xyz"));
      assert.deepEqual(
        again.map((f) => [f.representation, f.name, f.value]),
        [[field.representation, field.name, "xyz"]],
      );
    }
  });
});
