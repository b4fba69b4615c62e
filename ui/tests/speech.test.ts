import { describe, expect, it } from 'vitest';
import type { SpeechView } from '../src/api/types';
import {
  canRemoveKey,
  checkSpeechForm,
  effectiveVoice,
  formatSeconds,
  formatUsage,
  isEngineNote,
  joinWords,
  keyAvailable,
  keyPlaceholder,
  keyState,
  keyUses,
  missingKeyWarning,
  serviceLabel,
  serviceNamed,
  servicesNeeded,
  speechBody,
  speechDirty,
  speechErrorField,
  speechFormFromView,
  usesCloud,
  type SpeechForm,
} from '../src/lib/speech';
import { applyEvent, emptyData } from '../src/lib/state';
import { liveState } from '../src/lib/sessions';
import { emptyTranscript, isReplying, mergeTurns, setSession } from '../src/lib/transcript';
import { session, SESSION_A, turn } from './fixtures';

const VOICE = '21m00Tcm4TlvDq8ikWAM';
const keys = (over: Partial<Record<string, Partial<SpeechView['keys'][number]>>> = {}): SpeechView['keys'] =>
  (['deepgram', 'elevenlabs', 'gemini'] as const).map((service) => ({
    service,
    set: false,
    from_environment: false,
    env_var: `${service.toUpperCase()}_API_KEY`,
    ...over[service],
  }));
const offline: SpeechView = { stt: 'offline', tts: 'offline', voice_agent: 'none', elevenlabs_voice: VOICE, keys: keys() };
const cloud: SpeechView = {
  stt: 'deepgram',
  tts: 'elevenlabs',
  voice_agent: 'none',
  elevenlabs_voice: VOICE,
  keys: keys({ deepgram: { set: true }, elevenlabs: { set: true, from_environment: true } }),
};
const form = (v: SpeechView, over: Partial<SpeechForm> = {}): SpeechForm => ({ ...speechFormFromView(v), ...over });
const typed = (k: Partial<SpeechForm['keys']>): SpeechForm['keys'] => ({ deepgram: '', elevenlabs: '', gemini: '', ...k });
const removing = (r: Partial<SpeechForm['remove']>): SpeechForm['remove'] => ({
  deepgram: false,
  elevenlabs: false,
  gemini: false,
  ...r,
});

describe('speech settings form', () => {
  it('starts from the saved choice, never with a key', () => {
    expect(speechFormFromView(cloud)).toEqual({
      stt: 'deepgram',
      tts: 'elevenlabs',
      voiceAgent: 'none',
      elevenlabsVoice: VOICE,
      keys: { deepgram: '', elevenlabs: '', gemini: '' },
      remove: { deepgram: false, elevenlabs: false, gemini: false },
    });
  });

  it('knows when there is something to save', () => {
    const f = form(offline);
    expect(speechDirty(f, offline)).toBe(false);
    expect(speechDirty({ ...f, stt: 'deepgram' }, offline)).toBe(true);
    expect(speechDirty({ ...f, tts: 'elevenlabs' }, offline)).toBe(true);
    expect(speechDirty({ ...f, voiceAgent: 'gemini' }, offline)).toBe(true);
    expect(speechDirty({ ...f, keys: typed({ gemini: 'k' }) }, offline)).toBe(true);
    expect(speechDirty({ ...f, keys: typed({ gemini: '   ' }) }, offline)).toBe(false);
    expect(speechDirty({ ...f, remove: removing({ deepgram: true }) }, cloud)).toBe(true);
  });

  it('uses the typed voice id only while ElevenLabs speaks', () => {
    // Hidden (another voice is chosen): what is in the field does not count.
    expect(speechDirty({ ...form(offline), elevenlabsVoice: 'Other1' }, offline)).toBe(false);
    expect(effectiveVoice({ ...form(offline), elevenlabsVoice: 'Other1' }, offline)).toBe(VOICE);
    const f = form(cloud);
    expect(speechDirty({ ...f, elevenlabsVoice: ` ${VOICE} ` }, cloud)).toBe(false);
    expect(speechDirty({ ...f, elevenlabsVoice: 'Other1' }, cloud)).toBe(true);
    expect(effectiveVoice({ ...f, elevenlabsVoice: ' Other1 ' }, cloud)).toBe('Other1');
  });

  it('sends only the keys typed or removed', () => {
    const f = form(cloud);
    const plain = speechBody(f, cloud);
    expect(plain).toEqual({ stt: 'deepgram', tts: 'elevenlabs', voice_agent: 'none', elevenlabs_voice: VOICE });
    expect('api_key' in plain).toBe(false);

    const body = speechBody({ ...f, keys: typed({ gemini: ' g-key ' }), remove: removing({ deepgram: true }) }, cloud);
    expect(body.api_key).toEqual({ deepgram: '', gemini: 'g-key' });
    // Removing wins over what was typed before the box was ticked.
    expect(speechBody({ ...f, keys: typed({ deepgram: 'x' }), remove: removing({ deepgram: true }) }, cloud).api_key).toEqual({
      deepgram: '',
    });
  });

  it('sends the saved voice while another engine speaks, and null for an empty voice id (the default)', () => {
    expect(speechBody({ ...form(offline), elevenlabsVoice: 'typed1' }, offline).elevenlabs_voice).toBe(VOICE);
    expect(speechBody({ ...form(cloud), elevenlabsVoice: '  ' }, cloud).elevenlabs_voice).toBeNull();
    expect(speechBody({ ...form(offline), voiceAgent: 'gemini' }, offline).voice_agent).toBe('gemini');
  });

  it('says what each key is used for', () => {
    const f = form(offline, { stt: 'deepgram', tts: 'deepgram', voiceAgent: 'gemini' });
    expect(keyUses(f, 'deepgram')).toEqual(['speech-to-text', 'the voice']);
    expect(keyUses(f, 'gemini')).toEqual(['voice-to-voice']);
    expect(keyUses(f, 'elevenlabs')).toEqual([]);
    expect(servicesNeeded(f)).toEqual(['deepgram', 'gemini']);
    expect(servicesNeeded(form(offline))).toEqual([]);
    expect(usesCloud(form(offline))).toBe(false);
    expect(usesCloud(form(offline, { voiceAgent: 'deepgram' }))).toBe(true);
    expect(joinWords(['a'])).toBe('a');
    expect(joinWords(['a', 'b', 'c'])).toBe('a, b and c');
  });

  it('says in the placeholder whether a key is set, and where from', () => {
    const f = form(cloud);
    expect(keyPlaceholder(f, cloud, 'deepgram')).toBe('set — leave empty to keep');
    expect(keyPlaceholder(f, cloud, 'elevenlabs')).toBe('set by ELEVENLABS_API_KEY');
    expect(keyPlaceholder(f, cloud, 'gemini')).toBe('not set');
    expect(keyPlaceholder({ ...f, remove: removing({ deepgram: true }) }, cloud, 'deepgram')).toBe('will be removed');
  });

  it('offers to remove only a key typed here, not one from the environment', () => {
    expect(canRemoveKey(cloud, 'deepgram')).toBe(true);
    expect(canRemoveKey(cloud, 'elevenlabs')).toBe(false);
    expect(canRemoveKey(cloud, 'gemini')).toBe(false);
  });

  it('reads a view without a service as that service having no key', () => {
    const old: SpeechView = { ...offline, keys: [] };
    expect(keyState(old, 'gemini')).toEqual({ service: 'gemini', set: false, from_environment: false, env_var: 'GEMINI_API_KEY' });
    expect(keyPlaceholder(form(old), old, 'gemini')).toBe('not set');
  });

  it('knows whether a key will be in force after saving', () => {
    const f = form(cloud);
    expect(keyAvailable(f, cloud, 'deepgram')).toBe(true);
    expect(keyAvailable({ ...f, remove: removing({ deepgram: true }) }, cloud, 'deepgram')).toBe(false);
    expect(keyAvailable(f, cloud, 'gemini')).toBe(false);
    expect(keyAvailable({ ...f, keys: typed({ gemini: 'g' }) }, cloud, 'gemini')).toBe(true);
  });
});

describe('checks before sending', () => {
  it('passes the offline engines and cloud engines with keys', () => {
    expect(checkSpeechForm(form(offline), offline)).toEqual({});
    expect(checkSpeechForm(form(cloud), cloud)).toEqual({});
    expect(checkSpeechForm(form(offline, { stt: 'deepgram', keys: typed({ deepgram: 'dg-key' }) }), offline)).toEqual({});
  });

  it('asks for the key of a cloud engine chosen without one, next to that key', () => {
    const e = checkSpeechForm(form(offline, { stt: 'deepgram' }), offline);
    expect(Object.keys(e)).toEqual(['api_key.deepgram']);
    expect(e['api_key.deepgram']).toBe(
      'Deepgram is chosen for speech-to-text: type its API key (or set DEEPGRAM_API_KEY), or choose another engine.',
    );
    expect(checkSpeechForm(form(offline, { stt: 'deepgram', tts: 'deepgram' }), offline)['api_key.deepgram']).toMatch(
      /for speech-to-text and the voice:/,
    );
    expect(checkSpeechForm(form(offline, { voiceAgent: 'gemini' }), offline)['api_key.gemini']).toMatch(
      /^Gemini is chosen for voice-to-voice: .*GEMINI_API_KEY/,
    );
    expect(checkSpeechForm(form(offline, { tts: 'elevenlabs' }), offline)['api_key.elevenlabs']).toMatch(/ELEVENLABS_API_KEY/);
  });

  it('refuses removing the key of a service still chosen', () => {
    const e = checkSpeechForm(form(cloud, { remove: removing({ deepgram: true }) }), cloud);
    expect(e['api_key.deepgram']).toBe('Deepgram is chosen for speech-to-text: keep its key, or choose another engine.');
    expect(checkSpeechForm(form(cloud, { stt: 'offline', remove: removing({ deepgram: true }) }), cloud)).toEqual({});
  });

  it('refuses a key with spaces or too long', () => {
    expect(checkSpeechForm(form(offline, { keys: typed({ gemini: 'ab cd' }) }), offline)['api_key.gemini']).toMatch(/no spaces/);
    expect(checkSpeechForm(form(offline, { keys: typed({ gemini: ' abcd ' }) }), offline)).toEqual({});
    expect(checkSpeechForm(form(offline, { keys: typed({ gemini: 'x'.repeat(501) }) }), offline)['api_key.gemini']).toMatch(
      /at most 500/,
    );
  });

  it('checks the voice id only while ElevenLabs speaks: letters and digits, at most 64', () => {
    expect(checkSpeechForm(form(cloud, { elevenlabsVoice: 'abc-123' }), cloud).elevenlabs_voice).toMatch(/letters and digits/);
    expect(checkSpeechForm(form(cloud, { elevenlabsVoice: 'a'.repeat(65) }), cloud).elevenlabs_voice).toMatch(/at most 64/);
    expect(checkSpeechForm(form(cloud, { elevenlabsVoice: 'Abc123' }), cloud)).toEqual({});
    expect(checkSpeechForm(form(cloud, { elevenlabsVoice: '' }), cloud)).toEqual({});
    expect(checkSpeechForm(form(offline, { elevenlabsVoice: 'abc-123' }), offline)).toEqual({});
  });
});

describe("the server's refusals", () => {
  it('go next to the key of the service the message names', () => {
    expect(speechErrorField('api_key', 'Deepgram refused the API key')).toBe('api_key.deepgram');
    expect(speechErrorField('api_key', 'Deepgram Aura refused the API key')).toBe('api_key.deepgram');
    expect(speechErrorField('api_key', 'ElevenLabs is not configured: no API key (set ELEVENLABS_API_KEY or type one in Settings → Speech)')).toBe(
      'api_key.elevenlabs',
    );
    expect(speechErrorField('api_key', 'the gemini key must be at most 500 characters, without spaces')).toBe('api_key.gemini');
    expect(speechErrorField('api_key', 'keys are for deepgram, elevenlabs, gemini only')).toBe('api_key.deepgram');
    expect(speechErrorField('api_key', 'something else')).toBeNull();
  });

  it('go next to the field named, or to the form (an unreachable service, anything else)', () => {
    expect(speechErrorField('elevenlabs_voice', 'must be letters and digits (at most 64)')).toBe('elevenlabs_voice');
    expect(speechErrorField('stt', 'must be one of offline, deepgram, elevenlabs')).toBe('stt');
    expect(speechErrorField('voice_agent', 'must be one of none, gemini, deepgram')).toBe('voice_agent');
    expect(speechErrorField('speech', 'Deepgram could not be reached (IO error)')).toBeNull();
    expect(speechErrorField(undefined, 'Deepgram refused the API key')).toBeNull();
  });

  it('name the first service mentioned', () => {
    expect(serviceNamed('ElevenLabs said Deepgram')).toBe('elevenlabs');
    expect(serviceNamed('nothing')).toBeNull();
  });
});

describe('the saved choice without a key', () => {
  it('warns, and says calls use the offline engines meanwhile', () => {
    expect(missingKeyWarning(offline)).toBeNull();
    expect(missingKeyWarning(cloud)).toBeNull();
    expect(missingKeyWarning({ ...offline, stt: 'deepgram' })).toBe(
      'Deepgram is chosen but has no key: type one below or set DEEPGRAM_API_KEY. Until then calls use the offline engines in its place.',
    );
    expect(missingKeyWarning({ ...offline, stt: 'deepgram', voice_agent: 'gemini' })).toMatch(
      /^Deepgram and Gemini are chosen but have no key: type them below or set DEEPGRAM_API_KEY and GEMINI_API_KEY\. .* their place\.$/,
    );
    expect(missingKeyWarning({ ...offline, voice_agent: 'gemini' })).toBe(
      'Gemini is chosen but has no key: type one below or set GEMINI_API_KEY.',
    );
  });
});

describe('cloud usage', () => {
  it('lists seconds sent and received per service, by name', () => {
    expect(
      formatUsage({
        elevenlabs: { sent_seconds: 0, received_seconds: 4.04 },
        deepgram: { sent_seconds: 12.34, received_seconds: 8 },
      }),
    ).toEqual(['Deepgram: 12.3 s sent, 8.0 s received', 'ElevenLabs: 0.0 s sent, 4.0 s received']);
  });

  it('is empty when only offline engines ran', () => {
    expect(formatUsage(undefined)).toEqual([]);
    expect(formatUsage(null)).toEqual([]);
    expect(formatUsage({})).toEqual([]);
  });

  it('writes long stretches in minutes, and keeps an unknown service as named', () => {
    expect(formatSeconds(59.9)).toBe('59.9 s');
    expect(formatSeconds(59.96)).toBe('1 min');
    expect(formatSeconds(125.4)).toBe('2 min 5 s');
    expect(formatSeconds(Number.NaN)).toBe('—');
    expect(serviceLabel('gemini')).toBe('Gemini');
    expect(serviceLabel('Acme')).toBe('Acme');
    expect(formatUsage({ Acme: { sent_seconds: 1, received_seconds: 2 } })).toEqual(['Acme: 1.0 s sent, 2.0 s received']);
  });
});

describe('the note that a call moved to the offline engines', () => {
  const note = (seq: number) =>
    turn(seq, {
      role: 'tool',
      text: 'Moved to the offline speech engines: speech engine failed: Deepgram closed the connection mid-utterance (code 1011: internal error); whisper takes over for the rest of the call.',
      tool: { call_id: '', name: 'speech_engine', arguments: '', ok: true, result: {} },
    });

  it('is told apart from tools the agent called', () => {
    expect(isEngineNote(note(3))).toBe(true);
    expect(isEngineNote(turn(3, { role: 'tool', tool: { call_id: 'c1', name: 'request_help', arguments: '{}', ok: true, result: {} } }))).toBe(
      false,
    );
    expect(isEngineNote(turn(3, { role: 'agent' }))).toBe(false);
  });

  it('does not make the session look like it is replying', () => {
    const t = emptyTranscript(SESSION_A);
    setSession(t, session({ id: SESSION_A }));
    mergeTurns(t, [turn(1), turn(2, { role: 'agent' }), note(3)]);
    expect(isReplying(t)).toBe(false);
    mergeTurns(t, [turn(4)]);
    expect(isReplying(t)).toBe(true);
    // Only notes so far: nothing to reply to.
    const only = emptyTranscript(SESSION_A);
    setSession(only, session({ id: SESSION_A }));
    mergeTurns(only, [note(1)]);
    expect(isReplying(only)).toBe(false);
  });

  it("leaves the list's idea of what the session is doing as it was", () => {
    const d = emptyData();
    const s = session();
    let seq = 0;
    const ev = (e: object) => ({ seq: ++seq, at: new Date().toISOString(), ...e }) as Parameters<typeof applyEvent>[1];
    applyEvent(d, ev({ type: 'session.started', session: s }));
    applyEvent(d, ev({ type: 'session.turn', turn: turn(1, { session_id: s.id }) }));
    applyEvent(d, ev({ type: 'session.turn', turn: turn(2, { session_id: s.id, role: 'agent' }) }));
    expect(liveState(d.sessions[s.id], d.lastTurn[s.id])).toBe('live');
    applyEvent(d, ev({ type: 'session.turn', turn: { ...note(3), session_id: s.id } }));
    expect(liveState(d.sessions[s.id], d.lastTurn[s.id])).toBe('live');
    expect(d.sessions[s.id].turn_count).toBe(3);
  });
});
