// The client's copy of the server's data and how events change it. Pure
// functions over plain objects: `store.svelte.ts` keeps one `Data` in a
// `$state` proxy and calls these, the tests call them directly.
import type {
  AppEvent,
  HelpRequest,
  Job,
  HelpStatus,
  KnowledgeEntry,
  Notification,
  Session,
  Turn,
} from '../api/types';
import { compareSessions, isNewerSession, type LastTurn } from './sessions';
import { compareJobs, isNewerJob } from './crawl';
import { isEngineNote } from './speech';

export interface Data {
  requests: Record<string, HelpRequest>;
  kb: Record<string, KnowledgeEntry>;
  /** Customer notifications seen on the event stream, by request id. */
  notified: Record<string, Notification[]>;
  /** Local counter, bumped by every applied event. */
  tick: number;
  /** The tick at which each id was last changed by an event. */
  touched: Record<string, number>;
  /** Bumped whenever knowledge changes, so searches know to re-run. */
  kbVersion: number;
  /** `seq` of the last server event applied. */
  lastSeq: number;
  /** Agent sessions, by id. */
  sessions: Record<string, Session>;
  /** The latest turn of each session seen on the event stream. */
  lastTurn: Record<string, LastTurn>;
  /** Crawl jobs (onboarding a website, re-crawls), by id. */
  jobs: Record<string, Job>;
  /** The `seq` of the event that last set each job, to drop repeats and stragglers. */
  jobSeq: Record<string, number>;
}

export function emptyData(): Data {
  return {
    requests: {},
    kb: {},
    notified: {},
    tick: 0,
    touched: {},
    kbVersion: 0,
    lastSeq: 0,
    sessions: {},
    lastTurn: {},
    jobs: {},
    jobSeq: {},
  };
}

/** What the caller should do after an event. */
export type Effect = 'applied' | 'ignored' | 'refetch';

/**
 * Whether `incoming` should replace `existing`. A request only ever leaves
 * `pending`, so a final state beats a pending one whatever the timestamps;
 * otherwise the later `updated_at` wins (ties go to the incoming copy).
 */
export function isNewer(incoming: HelpRequest, existing: HelpRequest | undefined): boolean {
  if (!existing) return true;
  if (existing.status !== 'pending' && incoming.status === 'pending') return false;
  if (existing.status === 'pending' && incoming.status !== 'pending') return true;
  return Date.parse(incoming.updated_at) >= Date.parse(existing.updated_at);
}

export function upsertRequest(d: Data, r: HelpRequest): boolean {
  if (!isNewer(r, d.requests[r.id])) return false;
  d.requests[r.id] = r;
  return true;
}

function entryIsNewer(incoming: KnowledgeEntry, existing: KnowledgeEntry | undefined): boolean {
  return !existing || Date.parse(incoming.updated_at) >= Date.parse(existing.updated_at);
}

export function upsertEntry(d: Data, e: KnowledgeEntry): boolean {
  if (!entryIsNewer(e, d.kb[e.id])) return false;
  d.kb[e.id] = e;
  d.kbVersion++;
  return true;
}

export function removeEntry(d: Data, id: string): boolean {
  if (!(id in d.kb)) {
    d.kbVersion++;
    return false;
  }
  delete d.kb[id];
  d.kbVersion++;
  return true;
}

export function upsertSession(d: Data, s: Session): boolean {
  if (!isNewerSession(s, d.sessions[s.id])) return false;
  d.sessions[s.id] = s;
  return true;
}

/**
 * A turn was stored: the session gains it (turn count, and its title from
 * the caller's first words), and the list learns what the session is doing.
 */
export function applyTurn(d: Data, turn: Turn): boolean {
  const prev = d.lastTurn[turn.session_id];
  // A note that the speech engines changed says nothing about what the session is doing.
  if (!isEngineNote(turn) && (!prev || turn.seq > prev.seq)) {
    d.lastTurn[turn.session_id] = { seq: turn.seq, role: turn.role, decision: turn.grounding?.decision ?? null };
  }
  const s = d.sessions[turn.session_id];
  if (!s) return false;
  if (s.status === 'active' && turn.seq > s.turn_count) {
    const title = s.title ?? (turn.role === 'caller' ? turn.text.slice(0, 80) : null);
    d.sessions[s.id] = { ...s, turn_count: turn.seq, title };
  }
  return true;
}

/** Applies one event from `/api/events`. */
export function applyEvent(d: Data, ev: AppEvent): Effect {
  if (typeof ev.seq === 'number' && ev.seq > d.lastSeq) d.lastSeq = ev.seq;
  switch (ev.type) {
    case 'help_request.created':
    case 'help_request.joined':
    case 'help_request.resolved':
    case 'help_request.unresolved': {
      d.tick++;
      d.touched[ev.request.id] = d.tick;
      return upsertRequest(d, ev.request) ? 'applied' : 'ignored';
    }
    case 'knowledge.updated': {
      d.tick++;
      d.touched[ev.entry.id] = d.tick;
      return upsertEntry(d, ev.entry) ? 'applied' : 'ignored';
    }
    case 'knowledge.deleted': {
      d.tick++;
      d.touched[ev.id] = d.tick;
      removeEntry(d, ev.id);
      return 'applied';
    }
    case 'customer.notified': {
      const n = ev.notification;
      const list = (d.notified[n.request_id] ??= []);
      if (!list.some((x) => x.id === n.id)) list.push(n);
      return 'applied';
    }
    case 'session.started':
    case 'session.ended': {
      d.tick++;
      d.touched[ev.session.id] = d.tick;
      return upsertSession(d, ev.session) ? 'applied' : 'ignored';
    }
    case 'session.turn': {
      d.tick++;
      d.touched[ev.turn.session_id] = d.tick;
      return applyTurn(d, ev.turn) ? 'applied' : 'ignored';
    }
    case 'crawl.progress':
    case 'crawl.finished': {
      if (!ev.job || typeof ev.job.id !== 'string') return 'ignored';
      d.tick++;
      d.touched[ev.job.id] = d.tick;
      return upsertJob(d, ev.job, typeof ev.seq === 'number' ? ev.seq : undefined) ? 'applied' : 'ignored';
    }
    case 'stream.lagged':
      return 'refetch';
    case 'interview.window':
      // Interview rooms are the interviews screen's (lib/rooms.svelte.ts), which listens for these itself.
      return 'ignored';
    default:
      return 'ignored';
  }
}

/** Like `replaceRequests`, for sessions: what events changed after `since` is kept when newer. */
export function replaceSessions(d: Data, fresh: Session[], since: number): void {
  const next: Record<string, Session> = {};
  for (const s of fresh) next[s.id] = s;
  for (const [id, s] of Object.entries(d.sessions)) {
    if ((d.touched[id] ?? 0) <= since) continue;
    if (isNewerSession(s, next[id])) next[id] = s;
  }
  d.sessions = next;
}

/** A job from an event (with its `seq`) or a response; false when the copy held is newer. */
export function upsertJob(d: Data, job: Job, seq?: number): boolean {
  if (!isNewerJob(job, d.jobs[job.id], seq, d.jobSeq[job.id])) return false;
  d.jobs[job.id] = job;
  if (seq !== undefined) d.jobSeq[job.id] = seq;
  else delete d.jobSeq[job.id];
  return true;
}

/** Like `replaceSessions`, for crawl jobs. */
export function replaceJobs(d: Data, fresh: Job[], since: number): void {
  const next: Record<string, Job> = {};
  for (const j of fresh) next[j.id] = j;
  const seqs: Record<string, number> = {};
  for (const [id, j] of Object.entries(d.jobs)) {
    if ((d.touched[id] ?? 0) <= since) continue;
    if (isNewerJob(j, next[id]) || !next[id]) {
      next[id] = j;
      if (id in d.jobSeq) seqs[id] = d.jobSeq[id];
    }
  }
  d.jobs = next;
  d.jobSeq = seqs;
}

/** Crawl jobs, newest first. */
export function jobsOrdered(d: Data): Job[] {
  return Object.values(d.jobs).sort(compareJobs);
}

/** Active sessions first, then ended ones; newest first within each. */
export function sessionsOrdered(d: Data): Session[] {
  return Object.values(d.sessions).sort(compareSessions);
}

export function countActiveSessions(d: Data): number {
  let n = 0;
  for (const s of Object.values(d.sessions)) if (s.status === 'active') n++;
  return n;
}

/**
 * Replaces the requests with a fresh full list fetched starting at tick
 * `since`. What events changed after `since` is kept when it is newer than
 * the fetched copy (or missing from it: created after the fetch's snapshot).
 */
export function replaceRequests(d: Data, fresh: HelpRequest[], since: number): void {
  const next: Record<string, HelpRequest> = {};
  for (const r of fresh) next[r.id] = r;
  for (const [id, r] of Object.entries(d.requests)) {
    if ((d.touched[id] ?? 0) <= since) continue;
    if (isNewer(r, next[id])) next[id] = r;
  }
  d.requests = next;
}

/** Like `replaceRequests`, for the knowledge base; a deletion after `since` stays deleted. */
export function replaceEntries(d: Data, fresh: KnowledgeEntry[], since: number): void {
  const next: Record<string, KnowledgeEntry> = {};
  for (const e of fresh) {
    const touchedLater = (d.touched[e.id] ?? 0) > since;
    if (touchedLater && !(e.id in d.kb)) continue; // deleted by an event after the snapshot
    next[e.id] = e;
  }
  for (const [id, e] of Object.entries(d.kb)) {
    if ((d.touched[id] ?? 0) <= since) continue;
    if (entryIsNewer(e, next[id])) next[id] = e;
  }
  d.kb = next;
  d.kbVersion++;
}

/** Newest first: by `created_at`, then id (UUIDv7 ids sort by time too). */
export function compareNewestFirst(a: { created_at: string; id: string }, b: { created_at: string; id: string }): number {
  const t = Date.parse(b.created_at) - Date.parse(a.created_at);
  if (t !== 0) return t;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

export function requestsWithStatus(d: Data, status: HelpStatus): HelpRequest[] {
  return Object.values(d.requests)
    .filter((r) => r.status === status)
    .sort(compareNewestFirst);
}

export function countByStatus(d: Data): Record<HelpStatus, number> {
  const c: Record<HelpStatus, number> = { pending: 0, resolved: 0, unresolved: 0 };
  for (const r of Object.values(d.requests)) c[r.status]++;
  return c;
}

/** Knowledge entries, most recently changed first. */
export function entriesNewestFirst(d: Data): KnowledgeEntry[] {
  return Object.values(d.kb).sort((a, b) => {
    const t = Date.parse(b.updated_at) - Date.parse(a.updated_at);
    return t !== 0 ? t : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
  });
}

/**
 * The id `delta` steps from `current` in `ids`, clamped to the ends. When
 * `current` is not listed: if it was at `lastIndex` before it left the list
 * (answered, say), `j` lands on the row that took its place and `k` on the
 * one above; with no selection at all, `j` picks the first row, `k` the last.
 */
export function moveSelection(ids: string[], current: string | null, delta: number, lastIndex?: number | null): string | null {
  if (ids.length === 0) return null;
  const i = current ? ids.indexOf(current) : -1;
  if (i >= 0) return ids[Math.min(ids.length - 1, Math.max(0, i + delta))];
  if (current && lastIndex != null && lastIndex >= 0) {
    const at = delta > 0 ? lastIndex + delta - 1 : lastIndex + delta;
    return ids[Math.min(ids.length - 1, Math.max(0, at))];
  }
  return delta >= 0 ? ids[0] : ids[ids.length - 1];
}

/** The sentence shown when a response lost the race to someone (or the clock). */
export function conflictMessage(current: HelpRequest): string {
  const by = current.resolved_by;
  if (by === 'system') return 'This request timed out before your answer was sent; the caller was told nobody could answer.';
  if (current.status === 'resolved') {
    return `Already answered by ${by ?? 'someone else'}: ${current.answer ?? ''}`.trim();
  }
  if (current.status === 'unresolved') {
    const notes = current.notes ? `: ${current.notes}` : '';
    return `Already marked "can't answer" by ${by ?? 'someone else'}${notes}`;
  }
  return 'This request changed while you were answering it.';
}
