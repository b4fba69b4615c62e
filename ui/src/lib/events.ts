// The live event stream: one WebSocket to `/api/events`, reopened with
// backoff whenever it drops. After every open the caller refetches its lists,
// so nothing that happened while the socket was down is missed.
import type { AppEvent } from '../api/types';

/** The part of the browser's WebSocket this module uses. */
export interface SocketLike {
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = new (url: string) => SocketLike;

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** `connecting`: first attempt; `live`: open; `reconnecting`: dropped or failed, retrying; `stopped`. */
export type ConnState = 'connecting' | 'live' | 'reconnecting' | 'stopped';

export interface LiveEventsOptions<E extends { type: string } = AppEvent> {
  /** The URL to open, asked again on every attempt (the token may change). */
  url: () => string;
  onEvent: (ev: E) => void;
  /** The socket opened; `reconnect` is false only for the first open. Refetch here. */
  onOpen: (info: { reconnect: boolean }) => void;
  onState?: (state: ConnState, info: { attempt: number; retryInMs: number | null }) => void;
  WebSocket?: SocketFactory;
  timers?: Timers;
  minDelayMs?: number;
  maxDelayMs?: number;
}

/** The delay before reconnect attempt `attempt` (1-based): min doubling to max. */
export function backoffDelay(attempt: number, minMs = 500, maxMs = 10_000): number {
  const n = Math.max(1, attempt);
  return Math.min(maxMs, minMs * 2 ** Math.min(n - 1, 30));
}

/**
 * A JSON WebSocket that reopens itself; `E` is the frame type (`AppEvent`
 * for `/api/events`, `SessionFrame` for a session's live stream).
 */
export class LiveEvents<E extends { type: string } = AppEvent> {
  state: ConnState = 'stopped';
  private socket: SocketLike | null = null;
  private timer: unknown = null;
  /** Failed attempts since the last successful open. */
  private attempt = 0;
  private opened = false;
  private readonly ctor: SocketFactory;
  private readonly timers: Timers;

  constructor(private readonly opts: LiveEventsOptions<E>) {
    this.ctor = opts.WebSocket ?? (globalThis.WebSocket as unknown as SocketFactory);
    this.timers = opts.timers ?? {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
    };
  }

  start(): void {
    if (this.state !== 'stopped') return;
    this.setState(this.opened ? 'reconnecting' : 'connecting', null);
    this.connect();
  }

  stop(): void {
    this.clearTimer();
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onopen = s.onclose = s.onerror = null;
      s.onmessage = null;
      try {
        s.close(1000, 'client stopped');
      } catch {
        /* already closed */
      }
    }
    this.setState('stopped', null);
  }

  /** Skip the wait and try now (e.g. when the browser says it is online again). */
  retryNow(): void {
    if (this.state !== 'reconnecting' || this.socket) return;
    this.clearTimer();
    this.connect();
  }

  private connect(): void {
    let s: SocketLike;
    try {
      s = new this.ctor(this.opts.url());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = s;
    s.onopen = () => {
      if (this.socket !== s) return;
      const reconnect = this.opened;
      this.opened = true;
      this.attempt = 0;
      this.setState('live', null);
      this.opts.onOpen({ reconnect });
    };
    s.onmessage = (m) => {
      if (this.socket !== s || typeof m.data !== 'string') return;
      let ev: E;
      try {
        ev = JSON.parse(m.data) as E;
      } catch {
        return;
      }
      if (ev && typeof ev === 'object' && typeof ev.type === 'string') this.opts.onEvent(ev);
    };
    s.onerror = () => {
      // A close always follows; reconnecting is handled there.
    };
    s.onclose = () => {
      if (this.socket !== s) return;
      this.socket = null;
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    this.attempt++;
    const delay = backoffDelay(this.attempt, this.opts.minDelayMs, this.opts.maxDelayMs);
    this.setState('reconnecting', delay);
    this.clearTimer();
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      if (this.state === 'stopped') return;
      this.connect();
    }, delay);
  }

  private clearTimer(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  private setState(state: ConnState, retryInMs: number | null): void {
    this.state = state;
    this.opts.onState?.(state, { attempt: this.attempt, retryInMs });
  }
}
