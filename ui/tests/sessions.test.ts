import { describe, expect, it } from 'vitest';
import type { AppEvent, Session } from '../src/api/types';
import {
  argsSummary,
  compareSessions,
  DECISION_LABEL,
  decisionTone,
  escalationTurn,
  formatMs,
  hitsWithCitation,
  isNewerSession,
  isTestChat,
  liveState,
  percent,
  prettyJson,
} from '../src/lib/sessions';
import { applyEvent, countActiveSessions, emptyData, replaceSessions, sessionsOrdered } from '../src/lib/state';
import { grounding, session, turn } from './fixtures';

let seq = 0;
const ev = <T extends object>(e: T) => ({ seq: ++seq, at: new Date().toISOString(), ...e }) as unknown as AppEvent;
const ended = (s: Session, over: Partial<Session> = {}): Session => ({
  ...s,
  status: 'ended',
  ended_at: new Date(Date.parse(s.started_at) + 60_000).toISOString(),
  ...over,
});

describe('session events (the global stream)', () => {
  it('session.started adds a session, active first and newest first', () => {
    const d = emptyData();
    const old = ended(session());
    const a = session();
    const b = session();
    for (const s of [old, a, b]) expect(applyEvent(d, ev({ type: 'session.started', session: s }))).toBe('applied');
    expect(sessionsOrdered(d).map((s) => s.id)).toEqual([b.id, a.id, old.id]);
    expect(countActiveSessions(d)).toBe(2);
  });

  it('session.turn raises the turn count, sets the title from the first caller turn, and records what it is doing', () => {
    const d = emptyData();
    const s = session();
    applyEvent(d, ev({ type: 'session.started', session: s }));
    const t1 = turn(1, { session_id: s.id, text: 'Are you open on Sundays?' });
    expect(applyEvent(d, ev({ type: 'session.turn', turn: t1 }))).toBe('applied');
    expect(d.sessions[s.id].turn_count).toBe(1);
    expect(d.sessions[s.id].title).toBe('Are you open on Sundays?');
    expect(liveState(d.sessions[s.id], d.lastTurn[s.id])).toBe('replying');

    const t2 = turn(2, { session_id: s.id, role: 'agent', text: 'Yes', grounding: grounding({ decision: 'escalated' }) });
    applyEvent(d, ev({ type: 'session.turn', turn: t2 }));
    expect(d.sessions[s.id].turn_count).toBe(2);
    expect(d.sessions[s.id].title).toBe('Are you open on Sundays?');
    expect(liveState(d.sessions[s.id], d.lastTurn[s.id])).toBe('waiting');

    // A turn seen again (or late) changes nothing.
    applyEvent(d, ev({ type: 'session.turn', turn: t1 }));
    expect(d.sessions[s.id].turn_count).toBe(2);
    expect(d.lastTurn[s.id].seq).toBe(2);
  });

  it('session.ended moves it below the active ones, and a late started event does not revive it', () => {
    const d = emptyData();
    const a = session();
    const b = session();
    applyEvent(d, ev({ type: 'session.started', session: a }));
    applyEvent(d, ev({ type: 'session.started', session: b }));
    expect(applyEvent(d, ev({ type: 'session.ended', session: ended(b) }))).toBe('applied');
    expect(sessionsOrdered(d).map((s) => s.id)).toEqual([a.id, b.id]);
    expect(liveState(d.sessions[b.id], d.lastTurn[b.id])).toBe('ended');
    expect(applyEvent(d, ev({ type: 'session.started', session: b }))).toBe('ignored');
    expect(d.sessions[b.id].status).toBe('ended');
    expect(countActiveSessions(d)).toBe(1);
  });

  it('a turn for a session not loaded yet is remembered but adds no session', () => {
    const d = emptyData();
    const t = turn(1, { session_id: 'unknown' });
    expect(applyEvent(d, ev({ type: 'session.turn', turn: t }))).toBe('ignored');
    expect(d.sessions).toEqual({});
    expect(d.lastTurn.unknown.role).toBe('caller');
  });

  it('a refetched list keeps what events changed since the fetch started', () => {
    const d = emptyData();
    const a = session();
    const b = session();
    applyEvent(d, ev({ type: 'session.started', session: a }));
    const since = d.tick;
    // While the list was loading: b started and a ended.
    applyEvent(d, ev({ type: 'session.started', session: b }));
    applyEvent(d, ev({ type: 'session.ended', session: ended(a) }));
    replaceSessions(d, [a], since);
    expect(d.sessions[a.id].status).toBe('ended');
    expect(d.sessions[b.id]).toBeDefined();
    // Untouched sessions take the fetched copy.
    replaceSessions(d, [{ ...b, turn_count: 4 }], d.tick);
    expect(Object.keys(d.sessions)).toEqual([b.id]);
    expect(d.sessions[b.id].turn_count).toBe(4);
  });
});

describe('session helpers', () => {
  it('isNewerSession: ended wins, then more turns', () => {
    const s = session({ turn_count: 2 });
    expect(isNewerSession(s, undefined)).toBe(true);
    expect(isNewerSession(ended(s), s)).toBe(true);
    expect(isNewerSession(s, ended(s))).toBe(false);
    expect(isNewerSession({ ...s, turn_count: 1 }, s)).toBe(false);
    expect(isNewerSession({ ...s, turn_count: 3 }, s)).toBe(true);
  });

  it('compareSessions: active before ended, newest first', () => {
    const a = session();
    const b = session();
    const c = ended(session());
    expect([c, a, b].sort(compareSessions).map((s) => s.id)).toEqual([b.id, a.id, c.id]);
  });

  it('test chats are text sessions under the test caller name', () => {
    expect(isTestChat(session())).toBe(true);
    expect(isTestChat(session({ channel: 'voice' }))).toBe(false);
    expect(isTestChat(session({ caller_name: 'Ada' }))).toBe(false);
  });

  it('finds the turn that escalated a request, not the relay of its answer', () => {
    const req = 'req-1';
    const turns = [
      turn(1),
      turn(2, { role: 'tool' }),
      turn(3, { role: 'agent', grounding: grounding({ decision: 'escalated', help_request_id: req, reason: 'no evidence' }) }),
      turn(4, { role: 'agent', grounding: grounding({ decision: 'relay', help_request_id: req }) }),
      turn(5, { role: 'agent', grounding: grounding({ decision: 'escalated', help_request_id: 'other' }) }),
    ];
    expect(escalationTurn(turns, req)?.seq).toBe(3);
    expect(escalationTurn(turns.slice(3, 4), req)).toBeUndefined();
    expect(escalationTurn(turns, 'nope')).toBeUndefined();
  });

  it('labels every decision in words, with a tone', () => {
    expect(DECISION_LABEL.fast_path).toBe('fast path');
    expect(DECISION_LABEL.small_talk).toBe('small talk');
    expect(decisionTone('escalated')).toBe('warn');
    expect(decisionTone('fallback')).toBe('danger');
    expect(decisionTone('grounded')).toBe('ok');
  });

  it('marks the cited hits', () => {
    const hits = [
      { id: 'a', kind: 'seed' as const, title: 'A', snippet: 'a', url: null, score: 3.2, coverage: 0.9 },
      { id: 'b', kind: 'seed' as const, title: 'B', snippet: 'b', url: null, score: 1.1, coverage: 0.2 },
    ];
    expect(hitsWithCitation(grounding({ hits, cited: ['a'] })).map((h) => h.cited)).toEqual([true, false]);
  });

  it('formats timings, coverage and tool arguments', () => {
    expect(formatMs(null)).toBe('—');
    expect(formatMs(12.4)).toBe('12 ms');
    expect(formatMs(1234)).toBe('1.2 s');
    expect(formatMs(14_400)).toBe('14 s');
    expect(percent(0.834)).toBe('83%');
    expect(percent(1.5)).toBe('100%');
    expect(percent(undefined)).toBe('—');
    expect(argsSummary('{"question":"Do you do keratin?"}')).toBe('question: "Do you do keratin?"');
    expect(argsSummary('not json')).toBe('not json');
    expect(argsSummary(`{"q":"${'x'.repeat(200)}"}`, 20)).toHaveLength(20);
    expect(prettyJson('{"a":1}')).toBe('{\n  "a": 1\n}');
    expect(prettyJson('{oops')).toBe('{oops');
  });
});
