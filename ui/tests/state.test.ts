import { describe, expect, it } from 'vitest';
import type { AppEvent, HelpRequest } from '../src/api/types';
import {
  applyEvent,
  conflictMessage,
  countByStatus,
  emptyData,
  entriesNewestFirst,
  isNewer,
  moveSelection,
  replaceEntries,
  replaceRequests,
  requestsWithStatus,
} from '../src/lib/state';
import { entry, request, resolved } from './fixtures';

let seq = 0;
const ev = <T extends object>(e: T) => ({ seq: ++seq, at: new Date().toISOString(), ...e }) as unknown as AppEvent;
const created = (r: HelpRequest) => ev({ type: 'help_request.created', request: r });

describe('help request events', () => {
  it('created adds the request to pending, newest first, with counts', () => {
    const d = emptyData();
    const a = request();
    const b = request();
    expect(applyEvent(d, created(a))).toBe('applied');
    expect(applyEvent(d, created(b))).toBe('applied');
    expect(requestsWithStatus(d, 'pending').map((r) => r.id)).toEqual([b.id, a.id]);
    expect(countByStatus(d)).toEqual({ pending: 2, resolved: 0, unresolved: 0 });
  });

  it('resolved moves a request from the pending tab to the resolved tab', () => {
    const d = emptyData();
    const a = request();
    applyEvent(d, created(a));
    applyEvent(d, ev({ type: 'help_request.resolved', request: resolved(a) }));
    expect(requestsWithStatus(d, 'pending')).toEqual([]);
    expect(requestsWithStatus(d, 'resolved').map((r) => r.id)).toEqual([a.id]);
    expect(countByStatus(d)).toEqual({ pending: 0, resolved: 1, unresolved: 0 });
  });

  it('unresolved moves it to the unresolved tab', () => {
    const d = emptyData();
    const a = request();
    applyEvent(d, created(a));
    const timedOut = { ...a, status: 'unresolved' as const, resolved_by: 'system', updated_at: new Date(Date.parse(a.updated_at) + 1000).toISOString() };
    applyEvent(d, ev({ type: 'help_request.unresolved', request: timedOut }));
    expect(countByStatus(d)).toEqual({ pending: 0, resolved: 0, unresolved: 1 });
  });

  it('a resolved event for a request not yet seen adds it', () => {
    const d = emptyData();
    const a = resolved(request());
    applyEvent(d, ev({ type: 'help_request.resolved', request: a }));
    expect(requestsWithStatus(d, 'resolved')).toHaveLength(1);
  });

  it('never moves a final request back to pending (a late created event is ignored)', () => {
    const d = emptyData();
    const a = request();
    applyEvent(d, ev({ type: 'help_request.resolved', request: resolved(a) }));
    expect(applyEvent(d, created(a))).toBe('ignored');
    expect(d.requests[a.id].status).toBe('resolved');
  });

  it('sorts by created_at, newest first, whatever the arrival order', () => {
    const d = emptyData();
    const old = request({ created_at: '2026-01-01T10:00:00.000Z' });
    const mid = request({ created_at: '2026-01-01T11:00:00.000Z' });
    const young = request({ created_at: '2026-01-01T12:00:00.000Z' });
    for (const r of [mid, young, old]) applyEvent(d, created(r));
    expect(requestsWithStatus(d, 'pending').map((r) => r.id)).toEqual([young.id, mid.id, old.id]);
  });

  it('records the last seq', () => {
    const d = emptyData();
    const e = created(request());
    applyEvent(d, e);
    expect(d.lastSeq).toBe((e as { seq: number }).seq);
  });
});

describe('knowledge and other events', () => {
  it('knowledge.updated adds or replaces an entry, and bumps kbVersion', () => {
    const d = emptyData();
    const e = entry();
    applyEvent(d, ev({ type: 'knowledge.updated', entry: e }));
    expect(d.kb[e.id]).toEqual(e);
    const later = { ...e, answer: 'Changed.', updated_at: new Date(Date.parse(e.updated_at) + 1000).toISOString() };
    applyEvent(d, ev({ type: 'knowledge.updated', entry: later }));
    expect(d.kb[e.id].answer).toBe('Changed.');
    expect(d.kbVersion).toBe(2);
  });

  it('ignores an older copy of an entry', () => {
    const d = emptyData();
    const e = entry({ updated_at: '2026-01-02T00:00:00.000Z' });
    applyEvent(d, ev({ type: 'knowledge.updated', entry: e }));
    const older = { ...e, answer: 'Old.', updated_at: '2026-01-01T00:00:00.000Z' };
    expect(applyEvent(d, ev({ type: 'knowledge.updated', entry: older }))).toBe('ignored');
    expect(d.kb[e.id].answer).toBe(e.answer);
  });

  it('knowledge.deleted removes the entry', () => {
    const d = emptyData();
    const a = entry();
    const b = entry();
    applyEvent(d, ev({ type: 'knowledge.updated', entry: a }));
    applyEvent(d, ev({ type: 'knowledge.updated', entry: b }));
    applyEvent(d, ev({ type: 'knowledge.deleted', id: a.id }));
    expect(entriesNewestFirst(d).map((e) => e.id)).toEqual([b.id]);
  });

  it('customer.notified is kept per request, once per notification id', () => {
    const d = emptyData();
    const n = {
      id: 'n1',
      kind: 'answered',
      request_id: 'r1',
      customer_name: 'Ada',
      customer_contact: '',
      channel: 'phone',
      question: 'Q?',
      answer: 'A.',
      message: 'Hi Ada, A.',
    };
    applyEvent(d, ev({ type: 'customer.notified', notification: n }));
    applyEvent(d, ev({ type: 'customer.notified', notification: n }));
    expect(d.notified.r1).toHaveLength(1);
  });

  it('stream.lagged asks for a refetch; unknown types are ignored', () => {
    const d = emptyData();
    expect(applyEvent(d, { type: 'stream.lagged', missed: 12 })).toBe('refetch');
    expect(applyEvent(d, ev({ type: 'crawl.progress' }))).toBe('ignored');
    // Interview windows are the interviews screen's: they change nothing here and ask for no refetch.
    expect(applyEvent(d, ev({ type: 'interview.window', room: 'r', window: { index: 0, start_ms: 0, end_ms: 1, lines: [], reason: 'full' } }))).toBe('ignored');
  });
});

describe('refetching', () => {
  it('replaces the lists with the fetched ones', () => {
    const d = emptyData();
    const gone = request();
    applyEvent(d, created(gone));
    const since = d.tick;
    const fresh = [request(), request()];
    replaceRequests(d, fresh, since);
    expect(Object.keys(d.requests).sort()).toEqual(fresh.map((r) => r.id).sort());
  });

  it('keeps what events changed while the fetch was in flight', () => {
    const d = emptyData();
    const a = request();
    applyEvent(d, created(a));
    const since = d.tick;
    // During the fetch: a is resolved, and b is created.
    applyEvent(d, ev({ type: 'help_request.resolved', request: resolved(a) }));
    const b = request();
    applyEvent(d, created(b));
    // The response is from before those events.
    replaceRequests(d, [a], since);
    expect(d.requests[a.id].status).toBe('resolved');
    expect(d.requests[b.id]).toBeDefined();
    expect(countByStatus(d)).toEqual({ pending: 1, resolved: 1, unresolved: 0 });
  });

  it('keeps a knowledge deletion that happened during the fetch', () => {
    const d = emptyData();
    const a = entry();
    const since = d.tick;
    applyEvent(d, ev({ type: 'knowledge.deleted', id: a.id }));
    replaceEntries(d, [a], since);
    expect(d.kb[a.id]).toBeUndefined();
  });

  it('isNewer prefers final states, then later updated_at', () => {
    const a = request();
    expect(isNewer(a, undefined)).toBe(true);
    expect(isNewer(resolved(a), a)).toBe(true);
    expect(isNewer(a, resolved(a))).toBe(false);
    const r = resolved(a);
    expect(isNewer({ ...r, updated_at: '2000-01-01T00:00:00Z' }, r)).toBe(false);
  });
});

describe('selection and messages', () => {
  it('moveSelection steps and clamps', () => {
    const ids = ['a', 'b', 'c'];
    expect(moveSelection(ids, null, 1)).toBe('a');
    expect(moveSelection(ids, null, -1)).toBe('c');
    expect(moveSelection(ids, 'a', 1)).toBe('b');
    expect(moveSelection(ids, 'c', 1)).toBe('c');
    expect(moveSelection(ids, 'a', -1)).toBe('a');
    expect(moveSelection(ids, 'zzz', 1)).toBe('a');
    expect(moveSelection([], 'a', 1)).toBeNull();
  });

  it('moveSelection continues from where a row that left the list was', () => {
    // b was at index 1 and was answered: the list is now a, c, d.
    expect(moveSelection(['a', 'c', 'd'], 'b', 1, 1)).toBe('c');
    expect(moveSelection(['a', 'c', 'd'], 'b', -1, 1)).toBe('a');
    // the last row left: j stays on the new last row
    expect(moveSelection(['a', 'b'], 'c', 1, 2)).toBe('b');
  });

  it('conflictMessage names who answered, or says it timed out', () => {
    const a = request();
    expect(conflictMessage(resolved(a, { resolved_by: 'Grace', answer: 'We open at 9.' }))).toBe(
      'Already answered by Grace: We open at 9.',
    );
    expect(conflictMessage({ ...a, status: 'unresolved', resolved_by: 'system' })).toMatch(/timed out/);
    expect(conflictMessage({ ...a, status: 'unresolved', resolved_by: 'Grace', notes: 'no idea' })).toBe(
      'Already marked "can\'t answer" by Grace: no idea',
    );
  });
});
