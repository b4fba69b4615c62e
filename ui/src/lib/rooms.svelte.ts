// The interview rooms as the UI knows them: LiveKit's list, the rooms this
// browser made or opened (remembered, so a transcript stays reachable after
// LiveKit closes its room), the agent's state in each, and the join tokens
// minted for each seat. The rules are in interview.ts; this wires them to
// runes, the API and localStorage.
import { ApiError, describeError } from '../api/client';
import type { CreatedRoom, ParticipantRole, Room, RoomAgentMode, RoomAgentStatus } from '../api/types';
import { browserStorage } from './drafts';
import { KNOWN_ROOMS_KEY, parseKnownRooms, rememberRoom, roomItems, type KnownRoom } from './interview';
import { app } from './store.svelte';

/** The seats a join link is made for. */
export type Seat = 'interviewer' | 'candidate' | 'viewer';

/** Tokens for a room's seats, and the LiveKit server they are for. */
export interface Seats {
  url: string;
  tokens: Partial<Record<Seat, string>>;
}

class RoomsStore {
  /** LiveKit's rooms; null until listed, or when LiveKit cannot say. */
  live = $state<Room[] | null>(null);
  known = $state<KnownRoom[]>([]);
  statuses = $state<Record<string, RoomAgentStatus>>({});
  /** The join tokens minted in this page, by room. */
  seats = $state<Record<string, Seats>>({});
  loaded = $state(false);
  error = $state<string | null>(null);
  /** Why LiveKit cannot be used (the server's 503 message, which says what to set). */
  unavailable = $state<string | null>(null);

  items = $derived(roomItems(this.live, this.known, this.statuses));

  private readonly storage = browserStorage();
  private started = false;

  /** Reads the remembered rooms once. */
  private init(): void {
    if (this.started) return;
    this.started = true;
    try {
      this.known = parseKnownRooms(this.storage?.getItem(KNOWN_ROOMS_KEY) ?? null);
    } catch {
      this.known = [];
    }
  }

  /** Lists LiveKit's rooms, then asks the agent's state in each listed room. */
  async refetch(): Promise<void> {
    this.init();
    try {
      this.live = await app.api.get('/api/rooms');
      this.unavailable = null;
      this.error = null;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      if (e instanceof ApiError && e.status === 503) {
        // Not a failure of this list: LiveKit is not set up. The message says what to set.
        this.unavailable = describeError(e);
        this.error = null;
        this.live = null;
      } else {
        this.error = `Could not list the rooms: ${describeError(e)}`;
      }
    }
    this.loaded = this.loaded || this.error === null;
    await Promise.all(this.items.map((r) => this.refreshStatus(r.id)));
  }

  private liveTimer: ReturnType<typeof setTimeout> | undefined;

  /** LiveKit's list again (its people counts), once for a burst of changes. */
  private refreshLiveSoon(): void {
    clearTimeout(this.liveTimer);
    this.liveTimer = setTimeout(async () => {
      try {
        this.live = await app.api.get('/api/rooms');
      } catch {
        /* the list keeps what it had; its own refetch reports errors */
      }
    }, 1000);
  }

  /** Asks where the agent is in `room`; a room it was never in has no state. */
  async refreshStatus(room: string): Promise<void> {
    try {
      this.putStatus(await app.api.get('/api/rooms/{room_name}/agent', { path: { room_name: room } }));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        delete this.statuses[room];
        // Remembered, but LiveKit closed it and the server no longer has it: nothing left to open.
        if (!this.live?.some((r) => r.name === room)) this.forget(room);
      }
    }
  }

  putStatus(s: RoomAgentStatus): void {
    const before = this.statuses[s.room];
    this.statuses[s.room] = s;
    // Someone came or went (the agent hears a new voice, or stops): the people counts changed.
    if (before && (before.state !== s.state || before.listening_to.join() !== s.listening_to.join())) this.refreshLiveSoon();
    if (this.known.some((k) => k.name === s.room)) return;
    const listed = this.live?.find((r) => r.name === s.room);
    this.remember({ name: s.room, creation_time: listed?.creation_time ?? Math.floor(Date.now() / 1000) });
  }

  remember(room: KnownRoom): void {
    this.init();
    this.known = rememberRoom(this.known, room);
    this.save();
  }

  private forget(room: string): void {
    const next = this.known.filter((k) => k.name !== room);
    if (next.length === this.known.length) return;
    this.known = next;
    this.save();
  }

  private save(): void {
    try {
      this.storage?.setItem(KNOWN_ROOMS_KEY, JSON.stringify(this.known));
    } catch {
      /* kept for this page */
    }
  }

  /** Makes a room (the server names it when `name` is blank) and keeps its seats' tokens. */
  async create(name: string): Promise<CreatedRoom> {
    const n = name.trim();
    const r = await app.api.post('/api/rooms/create', { body: n ? { room_name: n } : {} });
    this.seats[r.name] = { url: r.url, tokens: { interviewer: r.interviewer_token, candidate: r.candidate_token } };
    this.remember({ name: r.name, creation_time: r.creation_time });
    this.live = [r, ...(this.live ?? []).filter((x) => x.name !== r.name)];
    return r;
  }

  /** Sends the agent into `room`; its status is kept for the list. */
  async sendAgent(room: string, mode: RoomAgentMode): Promise<RoomAgentStatus> {
    const s = await app.api.post('/api/rooms/{room_name}/agent', { path: { room_name: room }, body: { mode } });
    this.putStatus(s);
    return s;
  }

  async takeAgentOut(room: string): Promise<RoomAgentStatus> {
    const s = await app.api.delete('/api/rooms/{room_name}/agent', { path: { room_name: room } });
    this.putStatus(s);
    return s;
  }

  /**
   * Tokens for the seats of `room` that have none yet (all of them when
   * `fresh`): the interviewer and candidate seats under those identities,
   * a viewer under one of its own.
   */
  async mintSeats(room: string, fresh = false): Promise<void> {
    const have = fresh ? undefined : this.seats[room];
    const wanted: Seat[] = (['interviewer', 'candidate', 'viewer'] as const).filter((s) => !have?.tokens[s]);
    if (wanted.length === 0) return;
    const grants = await Promise.all(
      wanted.map((seat) =>
        app.api.post('/api/tokens/generate', {
          body: {
            room_name: room,
            participant_identity: seat === 'viewer' ? `viewer-${Math.random().toString(36).slice(2, 8)}` : seat,
            role: seat satisfies ParticipantRole,
          },
        }),
      ),
    );
    const tokens = { ...(have?.tokens ?? {}) };
    wanted.forEach((seat, i) => (tokens[seat] = grants[i].token));
    this.seats[room] = { url: grants[0].url, tokens };
  }
}

export const rooms = new RoomsStore();
