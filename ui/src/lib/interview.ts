// Interviews: LiveKit rooms the agent joins to transcribe. Pure, so the
// rules are tested without a DOM: the list of rooms, one room's transcript
// (the snapshot and the live frames, deduplicated by seq), the join links
// and the join page's errors in words.
import type {
  ParticipantRole,
  Room,
  RoomAgentStatus,
  RoomFrame,
  Speaker,
  SpeakerRole,
  TranscriptExport,
} from '../api/types';

// ---------------------------------------------------------------------------
// The list of rooms

/** A room this browser made or opened, kept so its transcript stays reachable after LiveKit closes the room. */
export interface KnownRoom {
  name: string;
  /** Unix seconds. */
  creation_time: number;
}

/** One row of the interviews list. */
export interface RoomItem {
  /** The room's name (the list's key). */
  id: string;
  /** Unix seconds. */
  creation_time: number;
  /** People in the room now; null when LiveKit does not list the room (closed, or not asked). */
  participants: number | null;
  /** The agent's state there, when known. */
  status: RoomAgentStatus | null;
}

/** The rooms remembered at most. */
export const KNOWN_ROOMS_MAX = 50;
export const KNOWN_ROOMS_KEY = 'switchboard.interviews';

/**
 * LiveKit's rooms (null: not asked, or it could not say) and the ones this
 * browser knows, once each, newest first; each with the agent's state when known.
 */
export function roomItems(
  live: readonly Room[] | null,
  known: readonly KnownRoom[],
  statuses: Readonly<Record<string, RoomAgentStatus>>,
): RoomItem[] {
  const byName = new Map<string, RoomItem>();
  for (const k of known) {
    byName.set(k.name, { id: k.name, creation_time: k.creation_time, participants: null, status: null });
  }
  for (const r of live ?? []) {
    byName.set(r.name, { id: r.name, creation_time: r.creation_time, participants: r.num_participants, status: null });
  }
  for (const [name, s] of Object.entries(statuses)) {
    const item = byName.get(name);
    if (item) item.status = s;
  }
  return [...byName.values()].sort((a, b) => b.creation_time - a.creation_time || a.id.localeCompare(b.id));
}

/** `list` with `room` first (replacing an older copy), at most `max` long. */
export function rememberRoom(list: readonly KnownRoom[], room: KnownRoom, max = KNOWN_ROOMS_MAX): KnownRoom[] {
  return [room, ...list.filter((r) => r.name !== room.name)].slice(0, max);
}

/** The remembered rooms from storage; anything unreadable is dropped. */
export function parseKnownRooms(text: string | null): KnownRoom[] {
  if (!text) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(raw)) return [];
  const out: KnownRoom[] = [];
  for (const r of raw) {
    if (!r || typeof r !== 'object') continue;
    const { name, creation_time } = r as { name?: unknown; creation_time?: unknown };
    if (typeof name === 'string' && ROOM_NAME.test(name) && typeof creation_time === 'number' && Number.isFinite(creation_time)) {
      out.push({ name, creation_time });
    }
  }
  return out.slice(0, KNOWN_ROOMS_MAX);
}

/** The server's rule for room names and identities. */
export const ROOM_NAME = /^[A-Za-z0-9._-]{1,128}$/;

/** Why a typed room name would be refused; null when it is fine (blank: the server picks one). */
export function roomNameProblem(name: string): string | null {
  const n = name.trim();
  if (!n) return null;
  if (n.length > 128) return 'A room name is at most 128 characters.';
  if (!ROOM_NAME.test(n)) return 'Use letters, digits, dots, dashes and underscores only (no spaces), or leave it blank.';
  return null;
}

/** The ISO time of a room's creation (Unix seconds), for `ListRow`. */
export function roomTime(creationSecs: number): string {
  return new Date(creationSecs * 1000).toISOString();
}

export type Tone = 'ok' | 'warn' | 'danger' | 'none';

/** The agent's state in a room in words, and its colour (the words say it too). */
export function agentLabel(status: RoomAgentStatus | null | undefined): { text: string; tone: Tone } {
  if (!status) return { text: 'No agent yet', tone: 'none' };
  switch (status.state) {
    case 'in_room':
      return { text: status.mode === 'agent' ? 'Agent talking' : 'Transcribing', tone: 'ok' };
    case 'left':
      return { text: 'Agent left', tone: 'none' };
    case 'failed':
      return { text: 'Agent failed', tone: 'danger' };
  }
  return { text: String(status.state), tone: 'none' };
}

// ---------------------------------------------------------------------------
// One room's transcript

/** A line as shown: the server's line and the speaker's name it was sent with. */
export interface Line {
  seq: number;
  /** The speaker's identity. */
  speaker: string;
  /** The name the line came with; the speaker's current name wins when known. */
  speaker_name: string;
  text: string;
  start_ms: number;
  end_ms: number;
}

export interface RoomTranscriptState {
  room: string;
  /** The agent's state; null until the server said (or when the agent was never there). */
  status: RoomAgentStatus | null;
  speakers: Record<string, Speaker>;
  /** Sorted by `start_ms`, then `seq`; each `seq` once. */
  lines: Line[];
  /** Evaluation windows emitted so far. */
  windows: number;
}

export function emptyRoomTranscript(room: string): RoomTranscriptState {
  return { room, status: null, speakers: {}, lines: [], windows: 0 };
}

export function compareLines(a: Line, b: Line): number {
  return a.start_ms - b.start_ms || a.seq - b.seq;
}

/**
 * Adds the lines not there yet (by `seq`; a copy already held stays) and
 * keeps them in time order. Returns how many were new.
 */
export function mergeLines(t: RoomTranscriptState, lines: readonly Line[]): number {
  const have = new Set(t.lines.map((l) => l.seq));
  const fresh: Line[] = [];
  for (const l of lines) {
    if (have.has(l.seq)) continue;
    have.add(l.seq);
    fresh.push({ ...l });
  }
  if (fresh.length === 0) return 0;
  const all = [...t.lines, ...fresh];
  // Lines mostly arrive in order: only sort when one does not.
  const last = t.lines[t.lines.length - 1];
  const inOrder = fresh.every((l, i) => compareLines(i === 0 ? (last ?? l) : fresh[i - 1], l) <= 0);
  t.lines = inOrder ? all : all.sort(compareLines);
  return fresh.length;
}

/** A speaker joined or was renamed. */
export function putSpeaker(t: RoomTranscriptState, s: Speaker): void {
  t.speakers[s.identity] = { ...s };
}

/** A whole transcript (`GET …/transcript`, or a socket's snapshot): its speakers replace ours, its lines merge in. */
export function applyRoomTranscript(
  t: RoomTranscriptState,
  x: TranscriptExport & { status?: RoomAgentStatus | null },
): void {
  if (x.status) t.status = x.status;
  const speakers: Record<string, Speaker> = {};
  for (const s of x.speakers) speakers[s.identity] = { ...s };
  t.speakers = speakers;
  mergeLines(t, x.lines);
}

/** One frame of the room's socket; `refetch` when frames were missed (the caller reloads). */
export function applyRoomFrame(t: RoomTranscriptState, f: RoomFrame): 'refetch' | null {
  switch (f.type) {
    case 'snapshot':
      applyRoomTranscript(t, { status: f.status, ...f.transcript });
      return null;
    case 'line':
      mergeLines(t, [{ ...f.line, speaker_name: f.speaker_name }]);
      return null;
    case 'speaker':
      putSpeaker(t, f.speaker);
      return null;
    case 'status':
      t.status = f.status;
      return null;
    case 'window':
      t.windows = Math.max(t.windows, f.window.index + 1);
      return null;
    case 'stream.lagged':
      return 'refetch';
  }
  return null;
}

/** The name to show for a line: the speaker's current name, else the one it came with, else the identity. */
export function speakerName(t: RoomTranscriptState, line: Pick<Line, 'speaker' | 'speaker_name'>): string {
  return t.speakers[line.speaker]?.name || line.speaker_name || line.speaker;
}

export const ROLE_LABEL: Record<SpeakerRole | 'viewer', string> = {
  interviewer: 'Interviewer',
  candidate: 'Candidate',
  agent: 'Agent',
  participant: 'Participant',
  viewer: 'Viewer',
};

/** The line's speaker's role in words, when the speaker is known. */
export function speakerRole(t: RoomTranscriptState, identity: string): string | null {
  const s = t.speakers[identity];
  return s ? (ROLE_LABEL[s.role] ?? s.role) : null;
}

/** Milliseconds since the transcript began as `mm:ss` (`h:mm:ss` past an hour). */
export function clockMs(ms: number): string {
  const s = Math.max(0, Math.floor((Number.isFinite(ms) ? ms : 0) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${String(m).padStart(2, '0')}:${ss}`;
}

/** Why a rename cannot be sent; null when it can. The server allows 1 to 80 characters. */
export function speakerNameProblem(name: string): string | null {
  const n = name.trim();
  if (!n) return 'Type a name.';
  if ([...n].length > 80) return 'A name is at most 80 characters.';
  return null;
}

export const EXPORT_FORMATS = [
  { format: 'txt', label: 'TXT' },
  { format: 'vtt', label: 'VTT' },
  { format: 'srt', label: 'SRT' },
  { format: 'md', label: 'Markdown' },
  { format: 'json', label: 'JSON' },
] as const;

export type ExportFormat = (typeof EXPORT_FORMATS)[number]['format'];

// ---------------------------------------------------------------------------
// Join links

/** What the join page needs: nothing of the app's own, so it works on anyone's computer. */
export interface JoinParams {
  room: string;
  /** The LiveKit server (`wss://…`). */
  url: string;
  /** The LiveKit access token; its grants (talk or only listen) are the server's. */
  token: string;
  role: ParticipantRole;
}

const ROLES: readonly ParticipantRole[] = ['interviewer', 'candidate', 'agent', 'participant', 'viewer'];

/**
 * The join page's route. The LiveKit token goes in `access_token`, never
 * `token`: `token=` in the address is the app's API token, which the page
 * takes and stores (lib/token.ts).
 */
export function joinHash(p: JoinParams): string {
  const q = new URLSearchParams({ room: p.room, role: p.role, url: p.url, access_token: p.token });
  return `#/join?${q.toString()}`;
}

/** The whole link: where the UI is served (`base`, any hash dropped) with the join route. */
export function joinLink(base: string, p: JoinParams): string {
  const u = new URL(base);
  u.hash = '';
  u.search = '';
  return u.toString() + joinHash(p);
}

/** Reads the join route's query (after `#/join?`): the parameters, or what is wrong with the link. */
export function parseJoinQuery(query: string): { params: JoinParams } | { problem: string } {
  const q = new URLSearchParams(query.replace(/^[?&]+/, ''));
  const room = q.get('room')?.trim() ?? '';
  const url = q.get('url')?.trim() ?? '';
  const token = q.get('access_token')?.trim() ?? '';
  const role = (q.get('role')?.trim() || 'participant') as ParticipantRole;
  const missing = [!room && 'room', !url && 'url', !token && 'access_token'].filter(Boolean);
  if (missing.length) {
    return {
      problem: `This join link is incomplete (no ${missing.join(', ')}). Ask whoever sent it for the whole link: it is long, and some apps cut it.`,
    };
  }
  if (!ROLES.includes(role)) return { problem: `This join link names an unknown role “${role}”. Ask for a new link.` };
  let proto: string;
  try {
    proto = new URL(url).protocol;
  } catch {
    return { problem: `This join link's server address “${url}” is not a URL. Ask for a new link.` };
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(proto)) {
    return { problem: `This join link's server address “${url}” is not a ws:// or wss:// address. Ask for a new link.` };
  }
  return { params: { room, url, token, role } };
}

/** The base is this computer only (localhost): a person elsewhere cannot open links made from it. */
export function isLoopbackBase(base: string): boolean {
  try {
    const h = new URL(base).hostname.replace(/^\[|\]$/g, '');
    return h === 'localhost' || h === '::1' || /^127\./.test(h) || h.endsWith('.localhost');
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// The join page's errors, in words

/** Why the microphone could not start, and what to do (`err` from getUserMedia). */
export function micProblem(err: unknown, secureContext = true): string {
  if (!secureContext) {
    return 'This page is not on a secure address (https://, or this computer), so the browser does not offer the microphone. Open the link over https.';
  }
  const name = err && typeof err === 'object' && 'name' in err ? String((err as { name: unknown }).name) : '';
  const message = err instanceof Error ? err.message : String(err ?? '');
  if (name === 'NotAllowedError' || name === 'PermissionDeniedError' || name === 'SecurityError' || /permission/i.test(message)) {
    return 'The microphone is blocked for this page. Allow it (the icon at the left of the address bar, or the browser settings), then press “Turn microphone on”.';
  }
  if (name === 'NotFoundError' || name === 'DevicesNotFoundError' || name === 'OverconstrainedError') {
    return 'No microphone was found. Plug one in (or choose one in the system settings), then press “Turn microphone on”.';
  }
  if (name === 'NotReadableError' || name === 'TrackStartError' || name === 'AbortError') {
    return 'The microphone could not start: another program may be using it. Close that program, then press “Turn microphone on”.';
  }
  return `The microphone could not start${message ? `: ${message}` : ''}. Check it, then press “Turn microphone on”.`;
}

/**
 * Why joining failed: `err` is what `Room.connect` threw (a LiveKit
 * `ConnectionError` carries `reason` 0 for "not allowed" and an HTTP `status`).
 */
export function connectProblem(err: unknown, url: string): string {
  const e = (err && typeof err === 'object' ? err : {}) as { reason?: unknown; status?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err ?? '');
  if (e.reason === 0 || e.status === 401 || e.status === 403) {
    return 'The room did not accept this link: it may have expired (links last 2 hours) or be for another room. Ask for a new link.';
  }
  return `Could not connect to the room at ${url}${message ? ` (${message})` : ''}. Check that this computer is online and can reach that server, then try again.`;
}

/** Why the call ended, from LiveKit's `DisconnectReason` number; null when this page left on purpose. */
export function disconnectProblem(reason: number | undefined): string | null {
  switch (reason) {
    case 1:
      return null;
    case 2:
      return 'Someone else joined with the same link, so this page was disconnected. Each person needs their own link.';
    case 4:
      return 'You were removed from the room.';
    case 5:
      return 'The room was closed.';
    case 3:
      return 'The call server shut down. Try joining again in a moment.';
    default:
      return 'The connection to the room was lost. Join again to reconnect.';
  }
}
