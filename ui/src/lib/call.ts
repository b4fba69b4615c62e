// The browser call: microphone → PCM16 frames over `WS /api/voice/stream`,
// reply audio played as it arrives, events for the panel. Kept apart from
// the component so its framing can be unit-tested.

/** Float samples in [-1, 1] to little-endian PCM16. */
export function toPcm16(samples: Float32Array): ArrayBuffer {
  const out = new DataView(new ArrayBuffer(samples.length * 2));
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    out.setInt16(i * 2, Math.round(s * 32767), true);
  }
  return out.buffer;
}

/** Little-endian PCM16 to float samples. */
export function fromPcm16(buf: ArrayBuffer): Float32Array<ArrayBuffer> {
  const view = new DataView(buf);
  const out = new Float32Array(Math.floor(buf.byteLength / 2));
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true) / 32768;
  return out;
}

export type CallEventMsg =
  | { type: 'session'; session_id: string; input_rate: number; output_rate: number }
  | { type: 'transcript'; text: string; is_final: boolean; language?: string | null }
  | { type: 'agent_text'; text: string; turn_id?: string | null }
  | { type: 'latency'; turn_id: string; timings: Record<string, number | null | undefined> }
  | { type: 'paused' }
  | { type: 'resumed' }
  | { type: 'interrupted'; heard: string }
  | { type: 'audio_end' }
  | { type: 'error'; code: string; message: string }
  | { type: 'ended'; reason: string };

export interface CallHandlers {
  onEvent: (e: CallEventMsg) => void;
  onClosed: (why: string | null) => void;
}

/** A call in progress. */
export class BrowserCall {
  private ws: WebSocket | null = null;
  private ctx: AudioContext | null = null;
  private stream: MediaStream | null = null;
  private node: AudioWorkletNode | null = null;
  private playing: AudioBufferSourceNode[] = [];
  private nextAt = 0;
  muted = false;

  constructor(
    private url: (rate: number) => string,
    private handlers: CallHandlers,
  ) {}

  async start(): Promise<void> {
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 },
    });
    // 16 kHz is what the recogniser wants; the browser resamples the mic.
    this.ctx = new AudioContext({ sampleRate: 16000 });
    await this.ctx.audioWorklet.addModule('/mic-worklet.js');
    const source = this.ctx.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(this.ctx, 'mic-capture');
    source.connect(this.node);
    const rate = this.ctx.sampleRate;
    const ws = new WebSocket(this.url(rate));
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.node.port.onmessage = (e: MessageEvent<Float32Array>) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(toPcm16(e.data));
    };
    ws.onmessage = (e) => {
      if (typeof e.data === 'string') {
        let msg: CallEventMsg;
        try {
          msg = JSON.parse(e.data) as CallEventMsg;
        } catch {
          return;
        }
        // The agent stops the moment the caller speaks over it: drop what
        // is queued to play.
        if (msg.type === 'paused' || msg.type === 'interrupted') this.flush();
        this.handlers.onEvent(msg);
      } else {
        this.play(fromPcm16(e.data as ArrayBuffer));
      }
    };
    ws.onclose = (e) => {
      this.stopAudio();
      this.handlers.onClosed(e.code === 1000 || e.code === 1005 ? null : `connection closed (${e.code})`);
    };
  }

  private play(samples: Float32Array<ArrayBuffer>) {
    const ctx = this.ctx;
    if (!ctx || samples.length === 0) return;
    const buf = ctx.createBuffer(1, samples.length, ctx.sampleRate);
    buf.copyToChannel(samples, 0);
    const src = ctx.createBufferSource();
    src.buffer = buf;
    src.connect(ctx.destination);
    this.nextAt = Math.max(this.nextAt, ctx.currentTime + 0.02);
    src.start(this.nextAt);
    this.nextAt += buf.duration;
    this.playing.push(src);
    src.onended = () => {
      this.playing = this.playing.filter((s) => s !== src);
    };
  }

  private flush() {
    for (const s of this.playing) {
      try {
        s.stop();
      } catch {
        /* already ended */
      }
    }
    this.playing = [];
    this.nextAt = 0;
  }

  setMuted(m: boolean) {
    this.muted = m;
    this.node?.port.postMessage({ muted: m });
  }

  hangUp() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'hangup' }));
  }

  private stopAudio() {
    this.flush();
    this.stream?.getTracks().forEach((t) => t.stop());
    void this.ctx?.close();
    this.ctx = null;
  }
}
