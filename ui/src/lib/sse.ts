// Server-sent events over fetch: `EventSource` cannot POST or send the
// bearer token, so the reply to a message is read from the response body
// and parsed here. Pure: chunks in, messages out, whatever the chunking.

/** One dispatched message: `event:` (default `message`) and its `data:` lines joined by `\n`. */
export interface SseMessage {
  event: string;
  data: string;
  id?: string;
}

/**
 * An incremental parser for `text/event-stream` (the WHATWG rules): lines
 * end in `\n`, `\r\n` or `\r`, and may be split anywhere across chunks; a
 * blank line dispatches; `:` lines are comments (keep-alives); a message
 * without `data:` is not dispatched.
 */
export class SseParser {
  private buf = '';
  private event = '';
  private data: string[] = [];
  private id: string | undefined;
  private sawData = false;
  /** The previous chunk ended in `\r`: a `\n` starting this one belongs to it. */
  private pendingCR = false;

  /** Feeds a chunk of text; returns the messages it completed. */
  push(chunk: string): SseMessage[] {
    const out: SseMessage[] = [];
    let text = chunk;
    if (this.pendingCR) {
      this.pendingCR = false;
      if (text.startsWith('\n')) text = text.slice(1);
    }
    this.buf += text;
    let start = 0;
    for (let i = 0; i < this.buf.length; i++) {
      const c = this.buf[i];
      if (c !== '\n' && c !== '\r') continue;
      this.line(this.buf.slice(start, i), out);
      if (c === '\r') {
        if (i + 1 < this.buf.length) {
          if (this.buf[i + 1] === '\n') i++;
        } else {
          this.pendingCR = true;
        }
      }
      start = i + 1;
    }
    this.buf = this.buf.slice(start);
    return out;
  }

  /** The stream ended: an unterminated last message is dropped, as the spec says. */
  end(): SseMessage[] {
    this.buf = '';
    this.reset();
    return [];
  }

  private reset(): void {
    this.event = '';
    this.data = [];
    this.sawData = false;
  }

  private line(line: string, out: SseMessage[]): void {
    if (line === '') {
      if (this.sawData) {
        const m: SseMessage = { event: this.event || 'message', data: this.data.join('\n') };
        if (this.id !== undefined) m.id = this.id;
        out.push(m);
      }
      this.reset();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        this.sawData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      default:
      // `retry` and unknown fields: nothing to do for a one-shot stream.
    }
  }
}

/** Reads a response body as SSE, calling `onMessage` for each message in order. */
export async function readSse(body: ReadableStream<Uint8Array>, onMessage: (m: SseMessage) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const m of parser.push(decoder.decode(value, { stream: true }))) onMessage(m);
    }
    for (const m of parser.push(decoder.decode())) onMessage(m);
    parser.end();
  } finally {
    reader.releaseLock();
  }
}
