import { describe, expect, it } from 'vitest';
import type { SessionFrame } from '../src/api/types';
import {
  addToken,
  applyFrame,
  applyView,
  emptyTranscript,
  isReplying,
  mergeTurns,
  setSession,
} from '../src/lib/transcript';
import { grounding, session, SESSION_A, turn } from './fixtures';

const live = () => session({ id: SESSION_A, turn_count: 0 });

describe('mergeTurns', () => {
  it('adds turns in seq order and drops ones it has (by seq)', () => {
    const t = emptyTranscript(SESSION_A);
    const a = turn(1);
    const b = turn(2, { role: 'agent' });
    const c = turn(3);
    expect(mergeTurns(t, [a, c])).toBe(2);
    expect(mergeTurns(t, [b])).toBe(1);
    expect(mergeTurns(t, [a, b, c])).toBe(0);
    expect(t.turns.map((x) => x.seq)).toEqual([1, 2, 3]);
  });

  it("ignores another session's turns", () => {
    const t = emptyTranscript(SESSION_A);
    expect(mergeTurns(t, [turn(1, { session_id: 'other' })])).toBe(0);
    expect(t.turns).toEqual([]);
  });

  it("raises the session's turn count", () => {
    const t = emptyTranscript(SESSION_A);
    setSession(t, live());
    mergeTurns(t, [turn(1), turn(2)]);
    expect(t.session?.turn_count).toBe(2);
  });
});

describe('tokens', () => {
  it('build up a reply, which the stored turn then replaces', () => {
    const t = emptyTranscript(SESSION_A);
    const reply = turn(2, { role: 'agent', text: 'Yes, from 10.' });
    expect(addToken(t, reply.id, 'Yes, ', 'sse')).toBe(true);
    expect(addToken(t, reply.id, 'from 10.', 'sse')).toBe(true);
    expect(t.streams).toEqual([{ turnId: reply.id, text: 'Yes, from 10.', source: 'sse' }]);
    expect(isReplying(t)).toBe(true);
    mergeTurns(t, [reply]);
    expect(t.streams).toEqual([]);
    expect(t.turns.map((x) => x.text)).toEqual(['Yes, from 10.']);
  });

  it('from a second source for the same reply are duplicates and ignored', () => {
    const t = emptyTranscript(SESSION_A);
    addToken(t, 'r1', 'Hel', 'ws');
    expect(addToken(t, 'r1', 'Hel', 'sse')).toBe(false);
    addToken(t, 'r1', 'lo', 'ws');
    expect(addToken(t, 'r1', 'lo', 'sse')).toBe(false);
    expect(t.streams[0].text).toBe('Hello');
  });

  it('after the turn is stored are ignored (a late duplicate)', () => {
    const t = emptyTranscript(SESSION_A);
    const reply = turn(2, { role: 'agent' });
    mergeTurns(t, [reply]);
    expect(addToken(t, reply.id, 'late', 'ws')).toBe(false);
    expect(t.streams).toEqual([]);
  });
});

describe('applyFrame', () => {
  it('merges a snapshot, then events; a turn sent twice (snapshot race) is kept once', () => {
    const t = emptyTranscript(SESSION_A);
    const s = live();
    const t1 = turn(1);
    const t2 = turn(2, { role: 'agent', grounding: grounding() });
    expect(applyFrame(t, { type: 'snapshot', session: s, turns: [t1] }, 'ws')).toBe('applied');
    expect(applyFrame(t, { type: 'turn', turn: t1 }, 'ws')).toBe('ignored');
    expect(applyFrame(t, { type: 'token', turn_id: t2.id, text: 'Yes' }, 'ws')).toBe('applied');
    expect(applyFrame(t, { type: 'turn', turn: t2 }, 'ws')).toBe('applied');
    expect(applyFrame(t, { type: 'turn', turn: t2 }, 'sse')).toBe('ignored');
    expect(t.turns.map((x) => x.seq)).toEqual([1, 2]);
    expect(t.streams).toEqual([]);
  });

  it('applies ended, and never lets an active copy undo it', () => {
    const t = emptyTranscript(SESSION_A);
    const s = live();
    applyFrame(t, { type: 'snapshot', session: s, turns: [] }, 'ws');
    const ended = { ...s, status: 'ended' as const, ended_at: '2026-01-01T13:00:00Z' };
    expect(applyFrame(t, { type: 'ended', session: ended }, 'ws')).toBe('applied');
    expect(applyFrame(t, { type: 'snapshot', session: s, turns: [] }, 'ws')).toBe('applied');
    expect(t.session?.status).toBe('ended');
    expect(setSession(t, { ...s, turn_count: 9 })).toBe(false);
  });

  it("shows the caller's words while they speak, until their turn is stored", () => {
    const t = emptyTranscript(SESSION_A);
    applyFrame(t, { type: 'snapshot', session: live(), turns: [] }, 'ws');
    expect(applyFrame(t, { type: 'hearing', text: 'I would like' }, 'ws')).toBe('applied');
    applyFrame(t, { type: 'hearing', text: 'I would like to book' }, 'ws');
    expect(t.hearing).toBe('I would like to book');
    applyFrame(t, { type: 'turn', turn: turn(1, { text: 'I would like to book a haircut.' }) }, 'ws');
    expect(t.hearing).toBeNull();
    applyFrame(t, { type: 'hearing', text: 'Thanks' }, 'ws');
    const ended = { ...live(), status: 'ended' as const, ended_at: '2026-01-01T13:00:00Z' };
    applyFrame(t, { type: 'ended', session: ended }, 'ws');
    expect(t.hearing).toBeNull();
    expect(applyFrame(t, { type: 'hearing', text: 'late' }, 'ws')).toBe('ignored');
  });

  it('asks for a refetch when the socket fell behind, and leaves errors to the sender', () => {
    const t = emptyTranscript(SESSION_A);
    expect(applyFrame(t, { type: 'stream.lagged', missed: 3 }, 'ws')).toBe('refetch');
    const err = { type: 'error', code: 'conflict', message: 'session has ended' } as SessionFrame;
    expect(applyFrame(t, err, 'sse')).toBe('ignored');
  });

  it('a fetched view fills gaps without dropping newer turns already merged', () => {
    const t = emptyTranscript(SESSION_A);
    const turns = [turn(1), turn(2, { role: 'agent' }), turn(3)];
    mergeTurns(t, [turns[2]]);
    applyView(t, { session: { ...live(), turn_count: 2 }, turns: turns.slice(0, 2) });
    expect(t.turns.map((x) => x.seq)).toEqual([1, 2, 3]);
    expect(t.session?.turn_count).toBe(3);
  });
});

describe('isReplying', () => {
  it('is true after a caller or tool turn in an active session, false after the reply or the end', () => {
    const t = emptyTranscript(SESSION_A);
    setSession(t, live());
    expect(isReplying(t)).toBe(false);
    mergeTurns(t, [turn(1)]);
    expect(isReplying(t)).toBe(true);
    mergeTurns(t, [turn(2, { role: 'tool' })]);
    expect(isReplying(t)).toBe(true);
    mergeTurns(t, [turn(3, { role: 'agent' })]);
    expect(isReplying(t)).toBe(false);
    mergeTurns(t, [turn(4)]);
    setSession(t, { ...live(), status: 'ended', turn_count: 4 });
    expect(isReplying(t)).toBe(false);
  });
});
