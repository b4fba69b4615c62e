// Agent sessions as the UI shows them: ordering, labels for the grounding
// decisions, the live state of a session in the list, and finding the turn
// that escalated a help request. Pure.
import type { Decision, Evidence, Grounding, Session, Turn, TurnRole } from '../api/types';

/** Test chats are text sessions started from the Sessions screen under this name. */
export const TEST_CALLER = 'Test caller';

export function isTestChat(s: Session): boolean {
  return s.channel === 'text' && s.caller_name === TEST_CALLER;
}

/** The longest message the server accepts, in characters. */
export const MAX_MESSAGE = 2000;

export const DECISION_LABEL: Record<Decision, string> = {
  fast_path: 'fast path',
  grounded: 'grounded',
  tools: 'tools',
  escalated: 'escalated',
  relay: 'relay',
  fallback: 'fallback',
  small_talk: 'small talk',
  extractive: 'extractive',
  refused: 'refused',
};

/** What each decision means, for the badge's tooltip. */
export const DECISION_HELP: Record<Decision, string> = {
  fast_path: 'A learned or curated answer matched closely: said as is, no model call.',
  grounded: 'The model answered from the evidence retrieved for this question.',
  tools: "The model used the business's tools (bookings, orders…).",
  escalated: 'Not enough evidence: the agent said it would check and opened a help request.',
  relay: "A supervisor's answer, relayed while the caller was still here.",
  fallback: 'The model failed or timed out; a fallback was said.',
  small_talk: 'Greetings and thanks: no business facts involved.',
  extractive: "The best evidence sentence was read back (no model, or the model's reply was unusable).",
  refused: 'The caller asked the agent to break its instructions: declined, nobody bothered.',
};

/** The chip style for a decision: good, attention, bad or neutral (the label says it in words too). */
export function decisionTone(d: Decision): 'ok' | 'warn' | 'danger' | 'accent' | '' {
  switch (d) {
    case 'fast_path':
    case 'grounded':
      return 'ok';
    case 'escalated':
      return 'warn';
    case 'fallback':
      return 'danger';
    case 'relay':
    case 'tools':
    case 'extractive':
      return 'accent';
    default:
      return '';
  }
}

export const ROLE_LABEL: Record<TurnRole, string> = {
  caller: 'Caller',
  agent: 'Agent',
  tool: 'Tool',
  supervisor: 'Supervisor',
};

export function sessionName(s: Session): string {
  return s.caller_name?.trim() || 'Unknown caller';
}

/**
 * Whether `incoming` should replace `existing`: a session only ever goes
 * from active to ended and only gains turns, so an ended copy beats an
 * active one, then the one with more turns wins (ties go to the incoming).
 */
export function isNewerSession(incoming: Session, existing: Session | undefined | null): boolean {
  if (!existing) return true;
  if (existing.status === 'ended' && incoming.status === 'active') return false;
  if (existing.status === 'active' && incoming.status === 'ended') return true;
  return incoming.turn_count >= existing.turn_count;
}

/** Active first, then newest started first (ids are time-ordered too). */
export function compareSessions(a: Session, b: Session): number {
  if (a.status !== b.status) return a.status === 'active' ? -1 : 1;
  const t = Date.parse(b.started_at) - Date.parse(a.started_at);
  if (t !== 0) return t;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** What the list knows about a session's latest turn (from live events only). */
export interface LastTurn {
  seq: number;
  role: TurnRole;
  decision: Decision | null;
}

export type LiveState = 'ended' | 'replying' | 'waiting' | 'live';

export const LIVE_STATE_LABEL: Record<LiveState, string> = {
  ended: 'Ended',
  replying: 'Agent replying…',
  waiting: 'Waiting on a supervisor',
  live: 'Live',
};

/** A session's state for the list: ended, the agent is replying, waiting on a supervisor, or live. */
export function liveState(s: Session, last: LastTurn | undefined): LiveState {
  if (s.status === 'ended') return 'ended';
  if (!last) return 'live';
  if (last.role === 'caller' || last.role === 'tool') return 'replying';
  if (last.role === 'agent' && last.decision === 'escalated') return 'waiting';
  return 'live';
}

/**
 * The agent turn that escalated help request `requestId`: the one whose
 * grounding names it, not the relay of its answer.
 */
export function escalationTurn(turns: readonly Turn[], requestId: string): Turn | undefined {
  const named = turns.filter(
    (t) => t.role === 'agent' && t.grounding?.help_request_id === requestId && t.grounding.decision !== 'relay',
  );
  return named.find((t) => t.grounding?.decision === 'escalated') ?? named[0];
}

/** The hits a reply rests on (cited), and whether each was cited, best first. */
export function hitsWithCitation(g: Grounding): Array<Evidence & { cited: boolean }> {
  return g.hits.map((h) => ({ ...h, cited: g.cited.includes(h.id) }));
}

/** "840 ms", "1.2 s", "14 s". */
export function formatMs(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 1000)} s`;
}

/** A coverage share (0..1) as a percentage. */
export function percent(share: number | null | undefined): string {
  if (share == null || !Number.isFinite(share)) return '—';
  return `${Math.round(Math.max(0, Math.min(1, share)) * 100)}%`;
}

/** A tool's arguments, pretty-printed when they are JSON, else as the model wrote them. */
export function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** One line for a tool's arguments in the transcript: `{"question":"x"}` → `question: "x"`. */
export function argsSummary(text: string, max = 120): string {
  let out = text;
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      out = Object.entries(v as Record<string, unknown>)
        .map(([k, x]) => `${k}: ${JSON.stringify(x)}`)
        .join(', ');
    }
  } catch {
    /* as written */
  }
  return out.length > max ? `${out.slice(0, max - 1)}…` : out;
}
