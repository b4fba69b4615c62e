import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AppEvent } from '../src/api/types';
import { backoffDelay, LiveEvents, type ConnState, type SocketLike } from '../src/lib/events';

class FakeSocket implements SocketLike {
  static all: FakeSocket[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  closed = false;
  constructor(public url: string) {
    FakeSocket.all.push(this);
  }
  close() {
    this.closed = true;
  }
  // test controls
  open() {
    this.onopen?.({});
  }
  drop() {
    this.onerror?.({});
    this.onclose?.({ code: 1006 });
  }
  send(data: unknown) {
    this.onmessage?.({ data });
  }
}

const last = () => FakeSocket.all[FakeSocket.all.length - 1];

function setup() {
  const events: AppEvent[] = [];
  const opens: boolean[] = [];
  const states: Array<[ConnState, number | null]> = [];
  let token = 't1';
  const live = new LiveEvents({
    url: () => `ws://host/api/events?token=${token}`,
    onEvent: (e) => events.push(e),
    onOpen: ({ reconnect }) => opens.push(reconnect),
    onState: (s, i) => states.push([s, i.retryInMs]),
    WebSocket: FakeSocket,
    timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as number) },
  });
  return { live, events, opens, states, setToken: (t: string) => (token = t) };
}

beforeEach(() => {
  FakeSocket.all = [];
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('backoffDelay', () => {
  it('doubles from 0.5 s up to 10 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map((n) => backoffDelay(n))).toEqual([
      500, 1000, 2000, 4000, 8000, 10000, 10000, 10000,
    ]);
  });
});

describe('LiveEvents', () => {
  it('connects, reports live, and asks for a refetch on the first open', () => {
    const { live, opens, states } = setup();
    live.start();
    expect(FakeSocket.all).toHaveLength(1);
    expect(last().url).toBe('ws://host/api/events?token=t1');
    expect(live.state).toBe('connecting');
    last().open();
    expect(live.state).toBe('live');
    expect(opens).toEqual([false]);
    expect(states.map((s) => s[0])).toEqual(['connecting', 'live']);
  });

  it('delivers parsed events and skips frames that are not JSON events', () => {
    const { live, events } = setup();
    live.start();
    last().open();
    last().send(JSON.stringify({ seq: 1, type: 'knowledge.deleted', id: 'x' }));
    last().send('not json');
    last().send(JSON.stringify({ nope: true }));
    last().send(new ArrayBuffer(2));
    expect(events).toEqual([{ seq: 1, type: 'knowledge.deleted', id: 'x' }]);
  });

  it('reconnects with backoff 0.5, 1, 2, 4 s … and refetches after reconnecting', () => {
    const { live, opens, states } = setup();
    live.start();
    last().open();
    last().drop();
    expect(live.state).toBe('reconnecting');
    expect(states[states.length - 1]).toEqual(['reconnecting', 500]);

    vi.advanceTimersByTime(499);
    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(2);

    last().drop(); // attempt 2 fails
    vi.advanceTimersByTime(999);
    expect(FakeSocket.all).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(3);

    last().drop(); // attempt 3 fails: 2 s
    vi.advanceTimersByTime(2000);
    expect(FakeSocket.all).toHaveLength(4);

    last().open();
    expect(live.state).toBe('live');
    expect(opens).toEqual([false, true]);
  });

  it('caps the delay at 10 s and resets it after a successful open', () => {
    const { live, states } = setup();
    live.start();
    for (let i = 0; i < 8; i++) {
      last().drop();
      vi.advanceTimersByTime(10_000);
    }
    const delays = states.filter((s) => s[0] === 'reconnecting').map((s) => s[1]);
    expect(delays.slice(-3)).toEqual([10000, 10000, 10000]);
    last().open();
    last().drop();
    expect(states[states.length - 1]).toEqual(['reconnecting', 500]);
  });

  it('a first connection that fails shows as reconnecting and keeps trying', () => {
    const { live, opens } = setup();
    live.start();
    last().drop();
    expect(live.state).toBe('reconnecting');
    vi.advanceTimersByTime(500);
    last().open();
    expect(opens).toEqual([false]);
  });

  it('asks for the URL again on every attempt (a new token is used)', () => {
    const { live, setToken } = setup();
    live.start();
    last().drop();
    setToken('t2');
    vi.advanceTimersByTime(500);
    expect(last().url).toBe('ws://host/api/events?token=t2');
  });

  it('retryNow skips the wait', () => {
    const { live } = setup();
    live.start();
    last().open();
    last().drop();
    live.retryNow();
    expect(FakeSocket.all).toHaveLength(2);
    vi.advanceTimersByTime(10_000);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('stop closes the socket and cancels reconnecting', () => {
    const { live } = setup();
    live.start();
    last().open();
    const s = last();
    live.stop();
    expect(s.closed).toBe(true);
    expect(live.state).toBe('stopped');
    s.onclose?.({}); // a late close from the browser does nothing
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('retries when the constructor itself throws (bad URL)', () => {
    let fail = true;
    class Throwing extends FakeSocket {
      constructor(url: string) {
        if (fail) throw new Error('SyntaxError');
        super(url);
      }
    }
    const live = new LiveEvents({
      url: () => 'ws://host/api/events',
      onEvent: () => {},
      onOpen: () => {},
      WebSocket: Throwing,
      timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as number) },
    });
    live.start();
    expect(live.state).toBe('reconnecting');
    fail = false;
    vi.advanceTimersByTime(500);
    expect(FakeSocket.all).toHaveLength(1);
  });
});
