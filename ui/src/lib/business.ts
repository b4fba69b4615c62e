// The business profile: the Settings → Business form and the first-run
// screen. Converting between the form as typed and the API's profile, the
// checks the server would make anyway (said before sending), where a
// server's 422 belongs, the form's draft in localStorage, and when the
// first-run screen shows. Pure, so it is all tested without a DOM.
import type { BusinessProfile, OpeningHours } from '../api/types';
import { isHttpUrl } from './crawl';
import type { KeyValueStore } from './drafts';

/** The server's limits (crates/core/src/profile.rs). */
export const MAX_NAME = 120;
export const MAX_LINE = 300;
export const MAX_URL = 2_000;
export const MAX_NOTES = 2_000;
export const MAX_LANGUAGES = 10;

export const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** One weekday's row as typed: times `HH:MM` (what `<input type="time">` gives) or empty. */
export interface HoursRow {
  day: Weekday;
  open: string;
  close: string;
  closed: boolean;
}

/** The form as typed. */
export interface BusinessForm {
  name: string;
  trade: string;
  greeting: string;
  address: string;
  phone: string;
  website: string;
  /** Always seven rows, Monday first. */
  hours: HoursRow[];
  /** Tags separated by commas (or spaces), e.g. "en, hi". */
  languages: string;
  personaNotes: string;
}

export type BusinessField =
  | 'name'
  | 'trade'
  | 'greeting'
  | 'address'
  | 'phone'
  | 'website'
  | 'hours'
  | 'languages'
  | 'personaNotes';

/** Where an error is shown: a field, or one weekday's row (`hours.Monday`). */
export type ErrorKey = BusinessField | `hours.${Weekday}`;
export type BusinessErrors = Partial<Record<ErrorKey, string>>;

export const hoursKey = (day: Weekday): ErrorKey => `hours.${day}`;

export function emptyHours(): HoursRow[] {
  return WEEKDAYS.map((day) => ({ day, open: '', close: '', closed: false }));
}

export function emptyBusinessForm(): BusinessForm {
  return {
    name: '',
    trade: '',
    greeting: '',
    address: '',
    phone: '',
    website: '',
    hours: emptyHours(),
    languages: '',
    personaNotes: '',
  };
}

/** The weekday a name stands for, in any case ("monday" → "Monday"); null when none. */
export function weekdayOf(text: string): Weekday | null {
  const t = text.trim().toLowerCase();
  return WEEKDAYS.find((d) => d.toLowerCase() === t) ?? null;
}

/** The profile as a form: every weekday has a row, those not given are empty. */
export function formFromProfile(p: BusinessProfile): BusinessForm {
  const hours = emptyHours();
  for (const h of p.hours ?? []) {
    const day = weekdayOf(h.day);
    if (!day) continue;
    const row = hours[WEEKDAYS.indexOf(day)];
    row.closed = !!h.closed;
    row.open = h.closed ? '' : (h.open ?? '');
    row.close = h.closed ? '' : (h.close ?? '');
  }
  return {
    name: p.name ?? '',
    trade: p.trade ?? '',
    greeting: p.greeting ?? '',
    address: p.address ?? '',
    phone: p.phone ?? '',
    website: p.website ?? '',
    hours,
    languages: (p.languages ?? []).join(', '),
    personaNotes: p.persona_notes ?? '',
  };
}

/** `9:00`, `09:00` or `09:00:00` as `09:00`; null when it is not a time of day (24:00 is one). */
export function normalizeClock(text: string): string | null {
  const m = /^(\d{1,2}):(\d{2})(?::\d{2}(?:\.\d+)?)?$/.exec(text.trim());
  if (!m) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (h > 24 || min > 59 || (h === 24 && min !== 0)) return null;
  return `${String(h).padStart(2, '0')}:${m[2]}`;
}

/**
 * A website as typed, as the address to save: `example.com` becomes
 * `https://example.com`; empty is null. Not checked: see `websiteError`.
 */
export function normalizeWebsite(text: string): string | null {
  const t = text.trim();
  if (!t) return null;
  if (/^https?:\/\//i.test(t) || t.includes('://')) return t;
  return `https://${t}`;
}

/** Why a website cannot be saved, or null when it can (empty is fine). */
export function websiteError(text: string): string | null {
  const url = normalizeWebsite(text);
  if (url === null) return null;
  if (url.length > MAX_URL) return `The address can be at most ${MAX_URL} characters.`;
  if (!/^https?:\/\//i.test(url)) return 'Only web addresses work here: start it with http:// or https://.';
  if (!isHttpUrl(url)) return 'That is not a valid web address. Check it, e.g. https://example.com.';
  return null;
}

/** Language tags as typed ("en, HI  pt-BR") → `["en", "hi", "pt-br"]`, without repeats. */
export function parseLanguages(text: string): string[] {
  const out: string[] = [];
  for (const part of text.split(/[,;\s]+/)) {
    const t = part.trim().toLowerCase();
    if (t && !out.includes(t)) out.push(t);
  }
  return out;
}

/** The rows with `from`'s hours (or closed) copied onto the days in `to`; the others as they are. */
export function copyHours(rows: HoursRow[], from: Weekday, to: readonly Weekday[]): HoursRow[] {
  const src = rows.find((r) => r.day === from);
  if (!src) return rows;
  return rows.map((r) => (to.includes(r.day) ? { ...r, open: src.open, close: src.close, closed: src.closed } : r));
}

const text = (v: string): string | null => v.trim() || null;

/** The rows worth sending: closed days, and days with a time; empty rows are left out. */
export function hoursFromRows(rows: HoursRow[]): OpeningHours[] {
  const out: OpeningHours[] = [];
  for (const r of rows) {
    if (r.closed) out.push({ day: r.day, open: null, close: null, closed: true });
    else if (r.open.trim() || r.close.trim()) {
      out.push({
        day: r.day,
        open: normalizeClock(r.open) ?? text(r.open),
        close: normalizeClock(r.close) ?? text(r.close),
        closed: false,
      });
    }
  }
  return out;
}

/** The body of `PUT /api/settings/business`: every field, empty text as null. */
export function profileFromForm(f: BusinessForm): BusinessProfile {
  return {
    name: text(f.name),
    trade: text(f.trade),
    greeting: text(f.greeting),
    address: text(f.address),
    phone: text(f.phone),
    website: normalizeWebsite(f.website),
    hours: hoursFromRows(f.hours),
    languages: parseLanguages(f.languages),
    persona_notes: text(f.personaNotes),
  };
}

/** Whether the form would save something other than `saved`. */
export function formChanged(f: BusinessForm, saved: BusinessProfile): boolean {
  return JSON.stringify(profileFromForm(f)) !== JSON.stringify(profileFromForm(formFromProfile(saved)));
}

function tooLong(v: string, max: number): string | null {
  const n = [...v.trim()].length;
  return n > max ? `Can be at most ${max} characters (this is ${n}).` : null;
}

/** One weekday's problem, or null. */
export function hoursRowError(r: HoursRow): string | null {
  if (r.closed) return null;
  const open = r.open.trim();
  const close = r.close.trim();
  if (!open && !close) return null;
  if (!open || !close) return `${r.day} needs both an opening and a closing time, or tick Closed.`;
  const o = normalizeClock(open);
  const c = normalizeClock(close);
  if (!o || !c) return `Enter ${r.day}'s times as HH:MM (24 hours), like 09:00 and 18:00.`;
  if (c <= o) return `${r.day} closes before it opens: check the times.`;
  return null;
}

/**
 * Problems the server would refuse anyway, said before sending, by where
 * they are shown. Empty when the form can be saved.
 */
export function validateBusinessForm(f: BusinessForm): BusinessErrors {
  const errors: BusinessErrors = {};
  const name = tooLong(f.name, MAX_NAME);
  if (name) errors.name = name;
  for (const k of ['trade', 'greeting', 'address'] as const) {
    const e = tooLong(f[k], MAX_LINE);
    if (e) errors[k] = e;
  }
  // The phone number's format is the server's to judge (its 422 is shown next to the field).
  const web = websiteError(f.website);
  if (web) errors.website = web;
  for (const r of f.hours) {
    const e = hoursRowError(r);
    if (e) errors[hoursKey(r.day)] = e;
  }
  const langs = parseLanguages(f.languages);
  const bad = langs.find((l) => !/^[a-z0-9-]{2,8}$/.test(l));
  if (bad) errors.languages = `"${bad}" is not a language tag. Use tags such as en, hi or pt-br, separated by commas.`;
  else if (langs.length > MAX_LANGUAGES) errors.languages = `At most ${MAX_LANGUAGES} languages.`;
  const notes = tooLong(f.personaNotes, MAX_NOTES);
  if (notes) errors.personaNotes = notes;
  return errors;
}

/** The order errors are met in the form, for focusing the first. */
export const ERROR_ORDER: readonly ErrorKey[] = [
  'name',
  'trade',
  'greeting',
  'address',
  'phone',
  'website',
  'hours',
  ...WEEKDAYS.map(hoursKey),
  'languages',
  'personaNotes',
];

export function firstError(errors: BusinessErrors): ErrorKey | null {
  return ERROR_ORDER.find((k) => errors[k]) ?? null;
}

const API_FIELD: Record<string, BusinessField> = {
  name: 'name',
  trade: 'trade',
  greeting: 'greeting',
  address: 'address',
  phone: 'phone',
  website: 'website',
  hours: 'hours',
  languages: 'languages',
  persona_notes: 'personaNotes',
};

/**
 * Where a validation message from the server belongs: it writes
 * `"<field>: <problem>"`; an hours message naming a weekday goes to that
 * day's row. `key` is null when the message names no field of the form
 * (shown above the Save button, whole).
 */
export function placeServerError(message: string): { key: ErrorKey | null; problem: string } {
  const m = /^([a-z_]+)(?:\[\d+\]|\.[\w.]+)?: (.*)$/is.exec(message.trim());
  if (!m || !(m[1] in API_FIELD)) return { key: null, problem: message };
  const field = API_FIELD[m[1]];
  const problem = m[2].charAt(0).toUpperCase() + m[2].slice(1);
  if (field === 'hours') {
    const day = WEEKDAYS.find((d) => new RegExp(`\\b${d}\\b`).test(m[2]));
    if (day) return { key: hoursKey(day), problem };
  }
  return { key: field, problem };
}

// The draft: what is typed survives leaving the screen, a reload and a failed save.

export const BUSINESS_DRAFT_KEY = 'switchboard.draft.business';

const FORM_TEXT = ['name', 'trade', 'greeting', 'address', 'phone', 'website', 'languages', 'personaNotes'] as const;

/** A form read back from storage; fields missing or of the wrong type get defaults. */
export function parseBusinessForm(raw: unknown): BusinessForm | null {
  if (!raw || typeof raw !== 'object') return null;
  const o = raw as Record<string, unknown>;
  const f = emptyBusinessForm();
  for (const k of FORM_TEXT) if (typeof o[k] === 'string') f[k] = o[k];
  if (Array.isArray(o.hours)) {
    for (const h of o.hours as unknown[]) {
      if (!h || typeof h !== 'object') continue;
      const r = h as Record<string, unknown>;
      const day = typeof r.day === 'string' ? weekdayOf(r.day) : null;
      if (!day) continue;
      const row = f.hours[WEEKDAYS.indexOf(day)];
      if (typeof r.open === 'string') row.open = r.open;
      if (typeof r.close === 'string') row.close = r.close;
      row.closed = r.closed === true;
    }
  }
  return f;
}

function safe<R>(f: () => R): R | null {
  try {
    return f();
  } catch {
    return null;
  }
}

/** The saved draft, if any. */
export function loadBusinessDraft(storage: KeyValueStore | null): BusinessForm | null {
  const raw = safe(() => storage?.getItem(BUSINESS_DRAFT_KEY) ?? null);
  if (!raw) return null;
  return parseBusinessForm(safe(() => JSON.parse(raw) as unknown));
}

/** Keeps the form as a draft while it differs from the saved profile; removes the draft once it does not. */
export function saveBusinessDraft(storage: KeyValueStore | null, f: BusinessForm, saved: BusinessProfile): void {
  if (formChanged(f, saved)) safe(() => storage?.setItem(BUSINESS_DRAFT_KEY, JSON.stringify(f)));
  else clearBusinessDraft(storage);
}

export function clearBusinessDraft(storage: KeyValueStore | null): void {
  safe(() => storage?.removeItem(BUSINESS_DRAFT_KEY));
}

/** What the form starts from: the draft when it differs from the saved profile, else the saved profile. */
export function initialForm(saved: BusinessProfile, draft: BusinessForm | null): { form: BusinessForm; restored: boolean } {
  if (draft && formChanged(draft, saved)) return { form: draft, restored: true };
  return { form: formFromProfile(saved), restored: false };
}

// The first-run screen

/** Set in localStorage by "Skip for now": the first-run screen stays hidden in this browser. */
export const FIRST_RUN_SKIPPED_KEY = 'switchboard.firstRun.skipped';

/** Whether the business still has no name (what the first-run screen asks for). */
export function isConfigured(p: BusinessProfile): boolean {
  return !!p.name?.trim();
}

/** Whether to show the first-run screen for this profile. */
export function needsFirstRun(p: BusinessProfile, skipped: boolean): boolean {
  return !skipped && !isConfigured(p);
}

export interface WelcomeForm {
  name: string;
  website: string;
}

/**
 * Checks the first-run form; when it is fine, the profile to save (what is
 * saved already, with the name and website) and the address to onboard
 * (null without a website).
 */
export function welcomeSubmission(
  f: WelcomeForm,
  current: BusinessProfile,
): { errors: Partial<Record<keyof WelcomeForm, string>>; profile: BusinessProfile | null; onboardUrl: string | null } {
  const errors: Partial<Record<keyof WelcomeForm, string>> = {};
  const name = f.name.trim();
  if (!name) errors.name = 'Enter the name callers know your business by.';
  else {
    const long = tooLong(name, MAX_NAME);
    if (long) errors.name = long;
  }
  const web = websiteError(f.website);
  if (web) errors.website = web;
  if (errors.name || errors.website) return { errors, profile: null, onboardUrl: null };
  const website = normalizeWebsite(f.website);
  return { errors, profile: { ...current, name, website: website ?? current.website ?? null }, onboardUrl: website };
}
