import { describe, expect, it } from 'vitest';
import { readSse, SseParser, type SseMessage } from '../src/lib/sse';

const STREAM =
  'event: turn\ndata: {"type":"turn","turn":{"seq":1}}\n\n' +
  ': keep-alive\n\n' +
  'event: token\ndata: {"type":"token","turn_id":"t2","text":"Yes, "}\n\n' +
  'event: token\ndata: {"type":"token","turn_id":"t2","text":"we are open."}\n\n' +
  'event: turn\ndata: {"type":"turn","turn":{"seq":2}}\n\n';

function parseAll(chunks: string[]): SseMessage[] {
  const p = new SseParser();
  const out: SseMessage[] = [];
  for (const c of chunks) out.push(...p.push(c));
  out.push(...p.end());
  return out;
}

describe('SseParser', () => {
  it('parses events with their names and data, skipping comments', () => {
    const msgs = parseAll([STREAM]);
    expect(msgs.map((m) => m.event)).toEqual(['turn', 'token', 'token', 'turn']);
    expect(JSON.parse(msgs[1].data)).toEqual({ type: 'token', turn_id: 't2', text: 'Yes, ' });
  });

  it('gives the same messages however the stream is split, even mid-line and mid-field', () => {
    const whole = parseAll([STREAM]);
    for (let i = 1; i < STREAM.length; i++) {
      expect(parseAll([STREAM.slice(0, i), STREAM.slice(i)])).toEqual(whole);
    }
    // One character at a time.
    expect(parseAll(STREAM.split(''))).toEqual(whole);
  });

  it('accepts CRLF and CR line endings, including a CRLF split across chunks', () => {
    const crlf = STREAM.replace(/\n/g, '\r\n');
    const whole = parseAll([STREAM]);
    expect(parseAll([crlf])).toEqual(whole);
    for (let i = 1; i < crlf.length; i++) {
      expect(parseAll([crlf.slice(0, i), crlf.slice(i)])).toEqual(whole);
    }
    expect(parseAll([STREAM.replace(/\n/g, '\r')])).toEqual(whole);
  });

  it('joins multi-line data with newlines and strips one leading space only', () => {
    expect(parseAll(['data:  two spaces\ndata:line2\n\n'])).toEqual([{ event: 'message', data: ' two spaces\nline2' }]);
  });

  it('dispatches only on a blank line; an unterminated message at the end is dropped', () => {
    const p = new SseParser();
    expect(p.push('event: token\ndata: {"a":1}\n')).toEqual([]);
    expect(p.push('\n')).toEqual([{ event: 'token', data: '{"a":1}' }]);
    expect(p.push('event: turn\ndata: x')).toEqual([]);
    expect(p.end()).toEqual([]);
  });

  it('does not dispatch a message without data, and resets the event name after each message', () => {
    expect(parseAll(['event: ping\n\ndata: x\n\n'])).toEqual([{ event: 'message', data: 'x' }]);
  });

  it('keeps the last id and ignores retry and unknown fields', () => {
    expect(parseAll(['id: 7\nretry: 1000\nfoo: bar\ndata: x\n\n'])).toEqual([{ event: 'message', data: 'x', id: '7' }]);
  });

  it('a field with no colon has an empty value', () => {
    expect(parseAll(['data\n\n'])).toEqual([{ event: 'message', data: '' }]);
  });
});

describe('readSse', () => {
  it('reads a byte stream split inside multi-byte characters', async () => {
    const text = 'event: token\ndata: {"text":"café ☕"}\n\n';
    const bytes = new TextEncoder().encode(text);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        // Split every 3 bytes: cuts through é and ☕.
        for (let i = 0; i < bytes.length; i += 3) c.enqueue(bytes.slice(i, i + 3));
        c.close();
      },
    });
    const got: SseMessage[] = [];
    await readSse(body, (m) => got.push(m));
    expect(got).toEqual([{ event: 'token', data: '{"text":"café ☕"}' }]);
  });
});
