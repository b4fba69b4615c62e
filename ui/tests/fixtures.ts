import type { HelpRequest, KnowledgeEntry } from '../src/api/types';

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
