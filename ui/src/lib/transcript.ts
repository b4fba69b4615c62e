// One session's transcript as it happens. Turns and tokens arrive from up to
// three places at once (the reply stream of a message this page sent, the
// session's live WebSocket, the global event stream); this merges them:
// turns are deduplicated by `seq` and kept in order, and each reply being
// generated is shown once, from whichever source sent its first token.
// Pure functions over a plain object, like state.ts.
import type { Session, SessionFrame, Turn } from '../api/types';
import { isNewerSession } from './sessions';
import { isEngineNote } from './speech';

/** Where an event came from: the message's own reply stream, the session's live socket, the global stream. */
export type Source = 'sse' | 'ws' | 'events';

/** A reply being generated: its text so far. */
export interface Stream {
  turnId: string;
  text: string;
  /** The source that sent its first token; tokens from others are duplicates. */
  source: Source;
}

export interface Transcript {
  /** The session this transcript is of. */
  id: string;
  session: Session | null;
  /** Stored turns, in `seq` order, each once. */
  turns: Turn[];
  /** Replies in progress, in the order they started. */
  streams: Stream[];
  /** What the caller is saying right now, as recognised so far (calls). */
  hearing: string | null;
}

export function emptyTranscript(id: string): Transcript {
  return { id, session: null, turns: [], streams: [], hearing: null };
}

/** Keeps the newer copy of the session (ended beats active, then more turns). */
export function setSession(t: Transcript, s: Session): boolean {
  if (s.id !== t.id || !isNewerSession(s, t.session)) return false;
  t.session = s;
  return true;
}

/**
 * Adds the turns not already there (by `seq`), in order. A stored turn
 * replaces the reply that was streaming under its id. Returns how many
 * turns were new.
 */
export function mergeTurns(t: Transcript, turns: readonly Turn[]): number {
  let added = 0;
  for (const turn of turns) {
    if (turn.session_id !== t.id) continue;
    t.streams = t.streams.filter((s) => s.turnId !== turn.id);
    if (t.turns.some((x) => x.seq === turn.seq)) continue;
    // Usually the turn goes last; otherwise insert in order.
    let i = t.turns.length;
    while (i > 0 && t.turns[i - 1].seq > turn.seq) i--;
    t.turns.splice(i, 0, turn);
    // The caller's words are final now: the live line gives way to them.
    if (turn.role === 'caller') t.hearing = null;
    added++;
  }
  if (added && t.session && t.session.status === 'active') {
    const last = t.turns[t.turns.length - 1].seq;
    if (last > t.session.turn_count) t.session = { ...t.session, turn_count: last };
  }
  return added;
}

/** Appends a piece of a reply. Ignored once the turn is stored, or when another source owns the reply. */
export function addToken(t: Transcript, turnId: string, text: string, source: Source): boolean {
  if (t.turns.some((x) => x.id === turnId)) return false;
  const s = t.streams.find((x) => x.turnId === turnId);
  if (!s) {
    t.streams.push({ turnId, text, source });
    return true;
  }
  if (s.source !== source) return false;
  s.text += text;
  return true;
}

/** What the caller should do after a frame. */
export type FrameEffect = 'applied' | 'ignored' | 'refetch';

/**
 * Applies a frame from the live socket (`snapshot` first, then session
 * events) or the reply stream of a message. `error` frames change nothing
 * here: the turn that follows says what happened, and the sender shows the
 * error where it typed.
 */
export function applyFrame(t: Transcript, f: SessionFrame, source: Source): FrameEffect {
  switch (f.type) {
    case 'snapshot':
      setSession(t, f.session);
      mergeTurns(t, f.turns);
      return 'applied';
    case 'turn':
      return mergeTurns(t, [f.turn]) ? 'applied' : 'ignored';
    case 'token':
      return addToken(t, f.turn_id, f.text, source) ? 'applied' : 'ignored';
    case 'hearing':
      if (t.session?.status === 'ended') return 'ignored';
      t.hearing = f.text;
      return 'applied';
    case 'ended':
      t.hearing = null;
      return setSession(t, f.session) ? 'applied' : 'ignored';
    case 'stream.lagged':
      return 'refetch';
    default:
      return 'ignored';
  }
}

/** Replaces what a fetch of the whole session returned, keeping anything newer already merged. */
export function applyView(t: Transcript, view: { session: Session; turns: Turn[] }): void {
  setSession(t, view.session);
  mergeTurns(t, view.turns);
}

/**
 * Whether a reply is being generated right now (a caller turn or tool turn
 * is the last, or a stream is open). A note that the speech engines changed
 * is no step of a reply: the turn before it counts.
 */
export function isReplying(t: Transcript): boolean {
  if (t.streams.length > 0) return true;
  let i = t.turns.length - 1;
  while (i >= 0 && isEngineNote(t.turns[i])) i--;
  const last = t.turns[i];
  return !!last && (last.role === 'caller' || last.role === 'tool') && t.session?.status === 'active';
}
