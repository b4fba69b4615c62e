// The speech settings form (Settings → Speech): which engine hears, which
// speaks, an optional voice-to-voice service, and the services' keys
// (write-only). Also how a session shows its cloud usage and the note that
// a call moved to the offline engines. Pure.
import type { ServiceUsage, SpeechKeyView, SpeechSettings, SpeechView, Turn } from '../api/types';

/** The cloud services a key may be given for, in the order the form shows them. */
export const SERVICES = ['deepgram', 'elevenlabs', 'gemini'] as const;
export type Service = (typeof SERVICES)[number];

export const SERVICE_LABEL: Record<Service, string> = {
  deepgram: 'Deepgram',
  elevenlabs: 'ElevenLabs',
  gemini: 'Gemini',
};

export interface Choice {
  value: string;
  label: string;
}

export const STT_CHOICES: readonly Choice[] = [
  { value: 'offline', label: 'Offline (Whisper)' },
  { value: 'deepgram', label: 'Deepgram' },
  { value: 'elevenlabs', label: 'ElevenLabs' },
];

export const TTS_CHOICES: readonly Choice[] = [
  { value: 'offline', label: 'Offline (Piper)' },
  { value: 'deepgram', label: 'Deepgram Aura' },
  { value: 'elevenlabs', label: 'ElevenLabs' },
];

export const AGENT_CHOICES: readonly Choice[] = [
  { value: 'none', label: 'None' },
  { value: 'gemini', label: 'Gemini Live' },
  { value: 'deepgram', label: 'Deepgram Voice Agent' },
];

/** The longest voice id the server takes. */
export const MAX_VOICE = 64;
/** The longest key the server takes. */
export const MAX_KEY = 500;

export interface SpeechForm {
  stt: string;
  tts: string;
  voiceAgent: string;
  /** Only used while ElevenLabs is the voice; otherwise the saved one is kept. */
  elevenlabsVoice: string;
  /** Write-only: never filled from the server; empty keeps the saved key. */
  keys: Record<Service, string>;
  /** Remove the saved key on the next save (sends `""`). */
  remove: Record<Service, boolean>;
}

const perService = <T>(v: T): Record<Service, T> => ({ deepgram: v, elevenlabs: v, gemini: v });

/** The form as the server's settings show them; key fields always start empty. */
export function speechFormFromView(v: SpeechView): SpeechForm {
  return {
    stt: v.stt,
    tts: v.tts,
    voiceAgent: v.voice_agent,
    elevenlabsVoice: v.elevenlabs_voice,
    keys: perService(''),
    remove: perService(false),
  };
}

/** The field's name in the form's errors for a service's key. */
export function keyField(service: Service): string {
  return `api_key.${service}`;
}

/** What the server says about a service's key (absent from older views). */
export function keyState(v: SpeechView, service: Service): SpeechKeyView {
  return (
    v.keys.find((k) => k.service === service) ?? {
      service,
      set: false,
      from_environment: false,
      env_var: `${service.toUpperCase()}_API_KEY`,
    }
  );
}

/** What the chosen engines use `service` for, in words ("speech-to-text", "the voice", "voice-to-voice"). */
export function keyUses(form: SpeechForm, service: Service): string[] {
  const uses: string[] = [];
  if (form.stt === service) uses.push('speech-to-text');
  if (form.tts === service) uses.push('the voice');
  if (form.voiceAgent === service) uses.push('voice-to-voice');
  return uses;
}

/** The services the chosen engines need a key for. */
export function servicesNeeded(form: SpeechForm): Service[] {
  return SERVICES.filter((s) => keyUses(form, s).length > 0);
}

/** Whether saving would have the server connect to a service (and so take a moment). */
export function usesCloud(form: SpeechForm): boolean {
  return servicesNeeded(form).length > 0;
}

/** "a", "a and b", "a, b and c". */
export function joinWords(words: readonly string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

/** The voice id that would be saved: what is typed while ElevenLabs speaks, else the saved one. */
export function effectiveVoice(form: SpeechForm, v: SpeechView): string {
  return form.tts === 'elevenlabs' ? form.elevenlabsVoice.trim() : v.elevenlabs_voice;
}

/** Anything to save. */
export function speechDirty(form: SpeechForm, v: SpeechView): boolean {
  return (
    form.stt !== v.stt ||
    form.tts !== v.tts ||
    form.voiceAgent !== v.voice_agent ||
    effectiveVoice(form, v) !== v.elevenlabs_voice ||
    SERVICES.some((s) => form.remove[s] || form.keys[s].trim() !== '')
  );
}

/**
 * The PUT body. `api_key` carries only the keys typed (trimmed) or being
 * removed (`""`); a service left out keeps its saved key. No key typed or
 * removed: no `api_key` at all.
 */
export function speechBody(form: SpeechForm, v: SpeechView): SpeechSettings {
  const body: SpeechSettings = {
    stt: form.stt,
    tts: form.tts,
    voice_agent: form.voiceAgent,
    elevenlabs_voice: effectiveVoice(form, v) || null,
  };
  const keys: Record<string, string> = {};
  for (const s of SERVICES) {
    if (form.remove[s]) keys[s] = '';
    else if (form.keys[s].trim()) keys[s] = form.keys[s].trim();
  }
  if (Object.keys(keys).length) body.api_key = keys;
  return body;
}

/** A key is in force after saving: typed now, or saved and not being removed. */
export function keyAvailable(form: SpeechForm, v: SpeechView, service: Service): boolean {
  if (form.keys[service].trim() && !form.remove[service]) return true;
  return keyState(v, service).set && !form.remove[service];
}

/** What a key field says while it is empty. */
export function keyPlaceholder(form: SpeechForm, v: SpeechView, service: Service): string {
  const k = keyState(v, service);
  if (form.remove[service]) return 'will be removed';
  if (!k.set) return 'not set';
  if (k.from_environment) return `set by ${k.env_var}`;
  return 'set — leave empty to keep';
}

/** The "Remove key" box: only for a key typed here, not one from the environment. */
export function canRemoveKey(v: SpeechView, service: Service): boolean {
  const k = keyState(v, service);
  return k.set && !k.from_environment;
}

/**
 * Said before sending, by field (`elevenlabs_voice`, `api_key.<service>`):
 * a chosen service needs a key that is saved (and kept) or typed; a key has
 * no spaces; a voice id is letters and digits. The server checks the rest,
 * the keys themselves included.
 */
export function checkSpeechForm(form: SpeechForm, v: SpeechView): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const s of SERVICES) {
    const typed = form.remove[s] ? '' : form.keys[s].trim();
    if (typed && /\s/.test(typed)) errors[keyField(s)] = 'A key has no spaces: paste it again.';
    else if (typed.length > MAX_KEY) errors[keyField(s)] = `A key is at most ${MAX_KEY} characters: paste it again.`;
    const uses = keyUses(form, s);
    if (uses.length && !keyAvailable(form, v, s)) {
      const label = SERVICE_LABEL[s];
      errors[keyField(s)] = form.remove[s]
        ? `${label} is chosen for ${joinWords(uses)}: keep its key, or choose another engine.`
        : `${label} is chosen for ${joinWords(uses)}: type its API key (or set ${keyState(v, s).env_var}), or choose another engine.`;
    }
  }
  if (form.tts === 'elevenlabs') {
    const voice = form.elevenlabsVoice.trim();
    if (voice.length > MAX_VOICE || !/^[A-Za-z0-9]*$/.test(voice))
      errors.elevenlabs_voice = `A voice id is letters and digits only (at most ${MAX_VOICE}), as ElevenLabs shows it.`;
  }
  return errors;
}

/** The service a message names first ("Deepgram Aura refused the API key" → `deepgram`), if any. */
export function serviceNamed(text: string): Service | null {
  const lower = text.toLowerCase();
  let best: Service | null = null;
  let at = Infinity;
  for (const s of SERVICES) {
    const i = lower.indexOf(s);
    if (i >= 0 && i < at) {
      best = s;
      at = i;
    }
  }
  return best;
}

const FORM_FIELDS = ['stt', 'tts', 'voice_agent', 'elevenlabs_voice'];

/**
 * Where the server's refusal goes in the form: the field it names, the key
 * of the service an `api_key` message names, or `null` for the form's own
 * error (`speech`: a service could not be reached, and anything else).
 */
export function speechErrorField(field: string | undefined, problem: string): string | null {
  if (!field) return null;
  if (FORM_FIELDS.includes(field)) return field;
  if (field === 'api_key') {
    const s = serviceNamed(problem);
    return s ? keyField(s) : null;
  }
  return null;
}

/** A usage service's name as people know it (`deepgram` → Deepgram). */
export function serviceLabel(service: string): string {
  return (SERVICE_LABEL as Record<string, string>)[service.toLowerCase()] ?? service;
}

/** Audio seconds: "12.3 s" under a minute, then "2 min 5 s". */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 59.95) return `${seconds.toFixed(1)} s`;
  const total = Math.round(seconds);
  const m = Math.floor(total / 60);
  const s = total % 60;
  return s ? `${m} min ${s} s` : `${m} min`;
}

/** "Deepgram: 12.3 s sent, 8.0 s received", one per service, in name order; empty when only offline engines ran. */
export function formatUsage(usage: Record<string, ServiceUsage> | null | undefined): string[] {
  if (!usage) return [];
  return Object.entries(usage)
    .sort(([a], [b]) => serviceLabel(a).localeCompare(serviceLabel(b)))
    .map(([s, u]) => `${serviceLabel(s)}: ${formatSeconds(u.sent_seconds)} sent, ${formatSeconds(u.received_seconds)} received`);
}

/** The tool name of the transcript's note that a call moved to the offline speech engines. */
export const ENGINE_NOTE = 'speech_engine';

/** A note from Switchboard about the speech engines (not a tool the agent called). */
export function isEngineNote(t: Pick<Turn, 'role' | 'tool'>): boolean {
  return t.role === 'tool' && t.tool?.name === ENGINE_NOTE;
}

/**
 * The saved choice names a service that has no key (say its environment
 * variable went away): what calls do about it, for a warning on the card;
 * `null` when every chosen service has a key.
 */
export function missingKeyWarning(v: SpeechView): string | null {
  const form = speechFormFromView(v);
  const missing = servicesNeeded(form).filter((s) => !keyState(v, s).set);
  if (!missing.length) return null;
  const names = joinWords(missing.map((s) => SERVICE_LABEL[s]));
  const vars = joinWords(missing.map((s) => keyState(v, s).env_var));
  const many = missing.length > 1;
  const engines = missing.some((s) => form.stt === s || form.tts === s)
    ? ` Until then calls use the offline engines in ${many ? 'their' : 'its'} place.`
    : '';
  return `${names} ${many ? 'are' : 'is'} chosen but ${many ? 'have' : 'has'} no key: type ${many ? 'them' : 'one'} below or set ${vars}.${engines}`;
}
