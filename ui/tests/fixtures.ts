import type { Grounding, HelpRequest, Job, KnowledgeEntry, Session, Turn } from '../src/api/types';

let n = 0;

export function request(over: Partial<HelpRequest> = {}): HelpRequest {
  n++;
  const created = over.created_at ?? new Date(Date.UTC(2026, 0, 1, 12, 0, n)).toISOString();
  return {
    id: `00000000-0000-7000-8000-${String(n).padStart(12, '0')}`,
    customer_name: `Caller ${n}`,
    customer_contact: '+1-555-0100',
    channel: 'phone',
    question: `Question ${n}?`,
    status: 'pending',
    created_at: created,
    updated_at: created,
    deadline_at: new Date(Date.parse(created) + 15 * 60_000).toISOString(),
    resolved_at: null,
    answer: null,
    topic: null,
    notes: null,
    resolved_by: null,
    session_id: null,
    history: [],
    ...over,
  };
}

export function resolved(r: HelpRequest, over: Partial<HelpRequest> = {}): HelpRequest {
  const at = new Date(Date.parse(r.updated_at) + 60_000).toISOString();
  return { ...r, status: 'resolved', answer: 'Yes.', resolved_by: 'ada', resolved_at: at, updated_at: at, ...over };
}

export function entry(over: Partial<KnowledgeEntry> = {}): KnowledgeEntry {
  n++;
  const at = over.updated_at ?? new Date(Date.UTC(2026, 0, 1, 12, 0, n)).toISOString();
  return {
    id: `00000000-0000-7000-9000-${String(n).padStart(12, '0')}`,
    question: `KB question ${n}?`,
    answer: `KB answer ${n}.`,
    topic: null,
    source: 'manual',
    source_request_id: null,
    created_at: at,
    updated_at: at,
    ...over,
  };
}

export const SESSION_A = '00000000-0000-7000-a000-000000000001';

export function session(over: Partial<Session> = {}): Session {
  n++;
  return {
    id: `00000000-0000-7000-a000-${String(n).padStart(12, '0')}`,
    channel: 'text',
    status: 'active',
    caller_name: 'Test caller',
    caller_contact: null,
    language: null,
    started_at: new Date(Date.UTC(2026, 0, 1, 12, 0, n)).toISOString(),
    ended_at: null,
    turn_count: 0,
    title: null,
    ...over,
  };
}

export function turn(seq: number, over: Partial<Turn> = {}): Turn {
  n++;
  return {
    id: `00000000-0000-7000-b000-${String(n).padStart(12, '0')}`,
    session_id: SESSION_A,
    seq,
    role: 'caller',
    text: `Turn ${seq}`,
    tool: null,
    grounding: null,
    timings: null,
    created_at: new Date(Date.UTC(2026, 0, 1, 12, 1, seq)).toISOString(),
    ...over,
  };
}

export function grounding(over: Partial<Grounding> = {}): Grounding {
  return { decision: 'fast_path', hits: [], cited: [], help_request_id: null, reason: 'a reason', ...over };
}

export function job(over: Partial<Job> = {}): Job {
  n++;
  const at = over.created_at ?? new Date(Date.UTC(2026, 0, 1, 12, 0, n)).toISOString();
  return {
    id: `00000000-0000-7000-c000-${String(n).padStart(12, '0')}`,
    url: 'https://example.com/',
    kind: 'onboard',
    state: 'running',
    max_pages: 50,
    max_depth: 3,
    include: [],
    exclude: [],
    counts: { discovered: 0, fetched: 0, indexed: 0, unchanged: 0, removed: 0, errors: 0, skipped: {} },
    current_url: null,
    error: null,
    changes: null,
    created_at: at,
    updated_at: at,
    finished_at: null,
    ...over,
  };
}

/** A later copy of `j` (one second on), with `over` applied. */
export function later(j: Job, over: Partial<Job> = {}, secs = 1): Job {
  const at = new Date(Date.parse(j.updated_at) + secs * 1000).toISOString();
  return { ...j, updated_at: at, ...over, counts: { ...j.counts, ...(over.counts ?? {}) } };
}
