import { describe, expect, it } from 'vitest';
import type { Room, RoomAgentStatus, RoomFrame, Speaker } from '../src/api/types';
import {
  agentLabel,
  applyRoomFrame,
  applyRoomTranscript,
  clockMs,
  connectProblem,
  disconnectProblem,
  emptyRoomTranscript,
  isLoopbackBase,
  joinHash,
  joinLink,
  mergeLines,
  micProblem,
  parseJoinQuery,
  parseKnownRooms,
  putSpeaker,
  rememberRoom,
  roomItems,
  roomNameProblem,
  roomTime,
  speakerName,
  speakerNameProblem,
  speakerRole,
  type JoinParams,
  type Line,
} from '../src/lib/interview';
import { parseRoute, routeHash } from '../src/lib/route';
import { takeTokenFromUrl } from '../src/lib/token';

const status = (over: Partial<RoomAgentStatus> = {}): RoomAgentStatus => ({
  room: 'r1',
  mode: 'transcribe',
  state: 'in_room',
  listening_to: [],
  ...over,
});

const line = (seq: number, start_ms: number, speaker = 'candidate', text = `line ${seq}`): Line => ({
  seq,
  speaker,
  speaker_name: speaker,
  text,
  start_ms,
  end_ms: start_ms + 900,
});

const ann: Speaker = { identity: 'interviewer', name: 'Ann', role: 'interviewer' };
const bo: Speaker = { identity: 'candidate', name: 'Bo', role: 'candidate' };

describe('room transcript', () => {
  it('merges a snapshot and live lines once each, in time order', () => {
    const t = emptyRoomTranscript('r1');
    applyRoomFrame(t, {
      type: 'snapshot',
      status: status(),
      transcript: { speakers: [ann, bo], lines: [line(2, 3000), line(1, 1000, 'interviewer')] },
    });
    expect(t.status?.state).toBe('in_room');
    expect(t.lines.map((l) => l.seq)).toEqual([1, 2]);

    // The same line again (the global stream, a reconnect's snapshot): dropped by seq.
    applyRoomFrame(t, { type: 'line', line: line(2, 3000), speaker_name: 'Bo' });
    expect(t.lines).toHaveLength(2);

    // A later seq that started earlier (one speaker's line finished late) goes in its place by time.
    applyRoomFrame(t, { type: 'line', line: line(4, 5000), speaker_name: 'Bo' });
    applyRoomFrame(t, { type: 'line', line: line(3, 2000, 'interviewer'), speaker_name: 'Ann' });
    expect(t.lines.map((l) => l.seq)).toEqual([1, 3, 2, 4]);

    // Ties in start time keep seq order.
    mergeLines(t, [line(6, 5000), line(5, 5000)]);
    expect(t.lines.map((l) => l.seq)).toEqual([1, 3, 2, 4, 5, 6]);
  });

  it('a reconnect snapshot adds only what was missed and replaces the speakers', () => {
    const t = emptyRoomTranscript('r1');
    applyRoomTranscript(t, { status: status(), speakers: [ann], lines: [line(1, 0, 'interviewer')] });
    applyRoomFrame(t, {
      type: 'snapshot',
      status: status({ state: 'left' }),
      transcript: { speakers: [{ ...ann, name: 'Ann Lee' }, bo], lines: [line(1, 0, 'interviewer'), line(2, 1500)] },
    });
    expect(t.lines.map((l) => l.seq)).toEqual([1, 2]);
    expect(Object.keys(t.speakers)).toEqual(['interviewer', 'candidate']);
    expect(t.speakers.interviewer.name).toBe('Ann Lee');
    expect(t.status?.state).toBe('left');
  });

  it('a rename changes the name on every line, old and new', () => {
    const t = emptyRoomTranscript('r1');
    applyRoomTranscript(t, { speakers: [bo], lines: [line(1, 0)] });
    expect(speakerName(t, t.lines[0])).toBe('Bo');
    applyRoomFrame(t, { type: 'speaker', speaker: { ...bo, name: 'Bo Diddley' } });
    expect(speakerName(t, t.lines[0])).toBe('Bo Diddley');
    putSpeaker(t, { ...bo, name: 'B. D.' });
    expect(speakerName(t, t.lines[0])).toBe('B. D.');
    expect(speakerRole(t, 'candidate')).toBe('Candidate');
  });

  it('an unknown speaker is named by the line, else by identity, with no role', () => {
    const t = emptyRoomTranscript('r1');
    expect(speakerName(t, { speaker: 'guest-1', speaker_name: 'Guest' })).toBe('Guest');
    expect(speakerName(t, { speaker: 'guest-1', speaker_name: '' })).toBe('guest-1');
    expect(speakerRole(t, 'guest-1')).toBeNull();
  });

  it('status and window frames; a lag asks for a reload', () => {
    const t = emptyRoomTranscript('r1');
    expect(applyRoomFrame(t, { type: 'status', status: status({ state: 'failed', error: 'boom' }) })).toBeNull();
    expect(t.status?.error).toBe('boom');
    const win = { index: 2, start_ms: 0, end_ms: 10, lines: [], reason: 'full' } as const;
    applyRoomFrame(t, { type: 'window', window: { ...win, lines: [] } });
    expect(t.windows).toBe(3);
    applyRoomFrame(t, { type: 'window', window: { ...win, index: 0, lines: [] } });
    expect(t.windows).toBe(3);
    expect(applyRoomFrame(t, { type: 'stream.lagged', missed: 4 })).toBe('refetch');
    expect(applyRoomFrame(t, { type: 'nonsense' } as unknown as RoomFrame)).toBeNull();
  });

  it('formats times as mm:ss, h:mm:ss past an hour', () => {
    expect(clockMs(0)).toBe('00:00');
    expect(clockMs(999)).toBe('00:00');
    expect(clockMs(65_000)).toBe('01:05');
    expect(clockMs(59 * 60_000 + 59_999)).toBe('59:59');
    expect(clockMs(3_600_000 + 62_000)).toBe('1:01:02');
    expect(clockMs(-5)).toBe('00:00');
    expect(clockMs(Number.NaN)).toBe('00:00');
  });

  it('checks a new speaker name like the server does', () => {
    expect(speakerNameProblem('  ')).toMatch(/type a name/i);
    expect(speakerNameProblem('x'.repeat(81))).toMatch(/80/);
    expect(speakerNameProblem('x'.repeat(80))).toBeNull();
    expect(speakerNameProblem(' Ann ')).toBeNull();
  });
});

describe('rooms list', () => {
  const room = (name: string, creation_time: number, num_participants = 1): Room => ({
    name,
    creation_time,
    num_participants,
    max_participants: 0,
    sid: `RM_${name}`,
  });

  it('joins LiveKit rooms and remembered rooms, newest first, with the agent state', () => {
    const items = roomItems(
      [room('b', 200, 2), room('a', 100)],
      [{ name: 'old', creation_time: 50 }, { name: 'b', creation_time: 1 }],
      { b: status({ room: 'b' }), gone: status({ room: 'gone' }) },
    );
    expect(items.map((i) => i.id)).toEqual(['b', 'a', 'old']);
    expect(items[0]).toMatchObject({ participants: 2, creation_time: 200, status: { state: 'in_room' } });
    expect(items[2]).toMatchObject({ participants: null, status: null });
    expect(roomItems(null, [], {})).toEqual([]);
  });

  it('remembers rooms newest first, once each, up to a limit', () => {
    let list = rememberRoom([], { name: 'a', creation_time: 1 });
    list = rememberRoom(list, { name: 'b', creation_time: 2 });
    list = rememberRoom(list, { name: 'a', creation_time: 3 });
    expect(list).toEqual([
      { name: 'a', creation_time: 3 },
      { name: 'b', creation_time: 2 },
    ]);
    expect(rememberRoom(list, { name: 'c', creation_time: 4 }, 2).map((r) => r.name)).toEqual(['c', 'a']);
  });

  it('reads remembered rooms, dropping what is not one', () => {
    expect(parseKnownRooms(null)).toEqual([]);
    expect(parseKnownRooms('{bad')).toEqual([]);
    expect(parseKnownRooms('{"name":"a"}')).toEqual([]);
    expect(
      parseKnownRooms(JSON.stringify([{ name: 'a', creation_time: 1 }, { name: 'has space', creation_time: 1 }, { name: 'b' }, 7])),
    ).toEqual([{ name: 'a', creation_time: 1 }]);
  });

  it('checks a typed room name like the server does', () => {
    expect(roomNameProblem('')).toBeNull();
    expect(roomNameProblem('  ')).toBeNull();
    expect(roomNameProblem('interview-2024.01_a')).toBeNull();
    expect(roomNameProblem('has space')).toMatch(/letters, digits/);
    expect(roomNameProblem('é')).toMatch(/letters, digits/);
    expect(roomNameProblem('x'.repeat(129))).toMatch(/128/);
  });

  it('says the agent state in words', () => {
    expect(agentLabel(null)).toEqual({ text: 'No agent yet', tone: 'none' });
    expect(agentLabel(status())).toEqual({ text: 'Transcribing', tone: 'ok' });
    expect(agentLabel(status({ mode: 'agent' })).text).toBe('Agent talking');
    expect(agentLabel(status({ state: 'left' })).text).toBe('Agent left');
    expect(agentLabel(status({ state: 'failed' }))).toEqual({ text: 'Agent failed', tone: 'danger' });
  });

  it('turns creation seconds into an ISO time', () => {
    expect(roomTime(0)).toBe('1970-01-01T00:00:00.000Z');
  });
});

describe('join links', () => {
  const p: JoinParams = {
    room: 'room-1',
    url: 'wss://lk.example.com',
    token: 'eyJhbGciOi.J9.sig-_+/=',
    role: 'candidate',
  };

  it('round-trip through the route', () => {
    const link = joinLink('http://10.0.0.5:8787/#/interviews/room-1', p);
    expect(link.startsWith('http://10.0.0.5:8787/#/join?')).toBe(true);
    const route = parseRoute(new URL(link).hash);
    expect(route.name).toBe('join');
    if (route.name !== 'join') return;
    expect(parseJoinQuery(route.query)).toEqual({ params: p });
    expect(routeHash(route)).toBe(joinHash(p));
  });

  it('keep the path the UI is served from and drop its query', () => {
    expect(joinLink('https://h/app/index.html?x=1#/queue', p)).toMatch(/^https:\/\/h\/app\/index\.html#\/join\?room=room-1&/);
  });

  it("are not mistaken for the app's API token", () => {
    const link = joinLink('http://h:1/', p);
    expect(takeTokenFromUrl(link)).toEqual({ token: null, cleanUrl: null });
  });

  it('say what is wrong with a damaged link', () => {
    expect(parseJoinQuery('')).toEqual({ problem: expect.stringMatching(/incomplete \(no room, url, access_token\)/) });
    expect(parseJoinQuery('room=r&url=wss%3A%2F%2Fh')).toEqual({ problem: expect.stringMatching(/no access_token/) });
    expect(parseJoinQuery('room=r&url=nope&access_token=t')).toEqual({ problem: expect.stringMatching(/not a URL/) });
    expect(parseJoinQuery('room=r&url=ftp%3A%2F%2Fh&access_token=t')).toEqual({
      problem: expect.stringMatching(/not a ws:\/\/ or wss:\/\//),
    });
    expect(parseJoinQuery('room=r&url=wss%3A%2F%2Fh&access_token=t&role=boss')).toEqual({
      problem: expect.stringMatching(/unknown role/),
    });
  });

  it('default to a participant and accept a viewer', () => {
    expect(parseJoinQuery('room=r&url=ws%3A%2F%2Fh%3A7880&access_token=t')).toEqual({
      params: { room: 'r', url: 'ws://h:7880', token: 't', role: 'participant' },
    });
    const viewer = parseJoinQuery(joinHash({ ...p, role: 'viewer' }).replace('#/join?', ''));
    expect('params' in viewer && viewer.params.role).toBe('viewer');
  });

  it('know when they only work on this computer', () => {
    expect(isLoopbackBase('http://127.0.0.1:8787/')).toBe(true);
    expect(isLoopbackBase('http://localhost:8787/')).toBe(true);
    expect(isLoopbackBase('http://[::1]:8787/')).toBe(true);
    expect(isLoopbackBase('http://10.0.0.5:8787/')).toBe(false);
    expect(isLoopbackBase('https://switchboard.example.com/')).toBe(false);
    expect(isLoopbackBase('not a url')).toBe(false);
  });
});

describe('join page errors', () => {
  const named = (name: string, message = '') => Object.assign(new Error(message), { name });

  it('say why the microphone did not start and what to do', () => {
    expect(micProblem(named('NotAllowedError', 'Permission denied'))).toMatch(/blocked.*Allow it/);
    expect(micProblem(named('NotFoundError'))).toMatch(/No microphone was found/);
    expect(micProblem(named('NotReadableError'))).toMatch(/another program/);
    expect(micProblem(named('Weird', 'odd'))).toMatch(/could not start: odd/);
    expect(micProblem(null, false)).toMatch(/secure address/);
  });

  it('say why joining failed', () => {
    expect(connectProblem({ reason: 0, status: 401, message: 'invalid token' }, 'wss://h')).toMatch(/expired/);
    expect(connectProblem(new Error('could not establish signal connection'), 'ws://127.0.0.1:1')).toMatch(
      /Could not connect to the room at ws:\/\/127\.0\.0\.1:1 \(could not establish signal connection\)/,
    );
  });

  it('say why the call ended, except when this page left', () => {
    expect(disconnectProblem(1)).toBeNull();
    expect(disconnectProblem(2)).toMatch(/same link/);
    expect(disconnectProblem(5)).toMatch(/closed/);
    expect(disconnectProblem(undefined)).toMatch(/lost/);
  });
});
