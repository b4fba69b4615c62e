import { describe, expect, it } from 'vitest';
import type { BusinessProfile } from '../src/api/types';
import {
  BUSINESS_DRAFT_KEY,
  WEEKDAYS,
  clearBusinessDraft,
  copyHours,
  emptyBusinessForm,
  firstError,
  formChanged,
  formFromProfile,
  hoursFromRows,
  hoursRowError,
  initialForm,
  loadBusinessDraft,
  needsFirstRun,
  normalizeClock,
  normalizeWebsite,
  parseBusinessForm,
  parseLanguages,
  placeServerError,
  profileFromForm,
  saveBusinessDraft,
  validateBusinessForm,
  websiteError,
  weekdayOf,
  welcomeSubmission,
  type BusinessForm,
} from '../src/lib/business';
import type { KeyValueStore } from '../src/lib/drafts';

/** What the server answers for the demo business (sorted, every field present). */
const demo: BusinessProfile = {
  name: 'Juniper & Fern Hair Studio',
  trade: 'hair salon',
  greeting: null,
  address: '41 Larchmont Row',
  phone: '+1-555-0117',
  website: 'http://juniper-fern.example',
  hours: [
    { day: 'Monday', open: null, close: null, closed: true },
    { day: 'Tuesday', open: '09:00', close: '18:00', closed: false },
    { day: 'Saturday', open: '08:00', close: '16:00', closed: false },
  ],
  languages: ['en', 'hi'],
  persona_notes: 'Closed on public holidays.',
};

/** An empty profile as a new install serves it. */
const fresh: BusinessProfile = {
  name: null,
  trade: null,
  greeting: null,
  address: null,
  phone: null,
  website: null,
  hours: [],
  languages: [],
  persona_notes: null,
};

function memory(): KeyValueStore & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
  };
}

const formWith = (over: Partial<BusinessForm>): BusinessForm => ({ ...emptyBusinessForm(), ...over });

describe('business form <-> profile', () => {
  it('has a row for every weekday, Monday first, days not given empty', () => {
    const f = formFromProfile(demo);
    expect(f.hours.map((r) => r.day)).toEqual([...WEEKDAYS]);
    expect(f.hours[0]).toEqual({ day: 'Monday', open: '', close: '', closed: true });
    expect(f.hours[1]).toEqual({ day: 'Tuesday', open: '09:00', close: '18:00', closed: false });
    expect(f.hours[2]).toEqual({ day: 'Wednesday', open: '', close: '', closed: false });
    expect(f.hours[6]).toEqual({ day: 'Sunday', open: '', close: '', closed: false });
    expect(f.languages).toBe('en, hi');
    expect(f.greeting).toBe('');
    expect(f.personaNotes).toBe('Closed on public holidays.');
  });

  it('reads weekday names in any case and ignores ones it does not know', () => {
    const f = formFromProfile({ hours: [{ day: 'sunday', open: '10:00', close: '15:00' }, { day: 'Funday', closed: true }] });
    expect(f.hours[6]).toEqual({ day: 'Sunday', open: '10:00', close: '15:00', closed: false });
    expect(f.hours.filter((r) => r.closed || r.open)).toHaveLength(1);
    expect(weekdayOf(' TUESDAY ')).toBe('Tuesday');
    expect(weekdayOf('Tues')).toBeNull();
  });

  it('round-trips the profile the server sends', () => {
    expect(profileFromForm(formFromProfile(demo))).toEqual(demo);
    expect(profileFromForm(formFromProfile(fresh))).toEqual(fresh);
    expect(profileFromForm(formFromProfile({}))).toEqual(fresh);
  });

  it('sends every field: empty text as null, times padded, empty days left out', () => {
    const f = formWith({ name: '  Harbor Dental ', phone: ' ', languages: 'EN, hi  pt-BR, en' });
    f.hours[0] = { day: 'Monday', open: '9:00', close: '17:30', closed: false };
    f.hours[5] = { day: 'Saturday', open: '10:00', close: '', closed: true };
    expect(profileFromForm(f)).toEqual({
      ...fresh,
      name: 'Harbor Dental',
      hours: [
        { day: 'Monday', open: '09:00', close: '17:30', closed: false },
        { day: 'Saturday', open: null, close: null, closed: true },
      ],
      languages: ['en', 'hi', 'pt-br'],
    });
  });

  it('keeps a half-filled day so the server can say what is missing', () => {
    expect(hoursFromRows([{ day: 'Friday', open: '09:00', close: '', closed: false }])).toEqual([
      { day: 'Friday', open: '09:00', close: null, closed: false },
    ]);
  });

  it('tells a changed form from the saved profile, ignoring what the server would normalise', () => {
    const f = formFromProfile(demo);
    expect(formChanged(f, demo)).toBe(false);
    f.name = ` ${demo.name} `;
    f.languages = 'en,hi';
    expect(formChanged(f, demo)).toBe(false);
    f.hours[3].open = '09:00';
    f.hours[3].close = '12:00';
    expect(formChanged(f, demo)).toBe(true);
    // Times typed on a closed day are not sent.
    const g = formFromProfile(demo);
    g.hours[0].open = '09:00';
    expect(formChanged(g, demo)).toBe(false);
  });

  it('copies one day onto others', () => {
    const f = formFromProfile(demo);
    const rows = copyHours(f.hours, 'Tuesday', ['Wednesday', 'Thursday']);
    expect(rows[2]).toEqual({ day: 'Wednesday', open: '09:00', close: '18:00', closed: false });
    expect(rows[3]).toEqual({ day: 'Thursday', open: '09:00', close: '18:00', closed: false });
    expect(rows[4]).toEqual(f.hours[4]);
    expect(copyHours(f.hours, 'Monday', ['Sunday'])[6].closed).toBe(true);
  });
});

describe('business values', () => {
  it('normalises clock times', () => {
    expect(normalizeClock('9:05')).toBe('09:05');
    expect(normalizeClock('18:00:00')).toBe('18:00');
    expect(normalizeClock('24:00')).toBe('24:00');
    expect(normalizeClock('24:30')).toBeNull();
    expect(normalizeClock('7pm')).toBeNull();
    expect(normalizeClock('12:60')).toBeNull();
    expect(normalizeClock('')).toBeNull();
  });

  it('completes a website typed without its scheme', () => {
    expect(normalizeWebsite('')).toBeNull();
    expect(normalizeWebsite(' example.com ')).toBe('https://example.com');
    expect(normalizeWebsite('HTTP://example.com')).toBe('HTTP://example.com');
    expect(normalizeWebsite('ftp://files.example.com')).toBe('ftp://files.example.com');
    expect(websiteError('')).toBeNull();
    expect(websiteError('example.com/shop')).toBeNull();
    expect(websiteError('ftp://files.example.com')).toMatch(/http:\/\/ or https:\/\//);
    expect(websiteError('https://exa mple.com')).toMatch(/not a valid web address/);
  });

  it('reads language tags separated by commas or spaces', () => {
    expect(parseLanguages('')).toEqual([]);
    expect(parseLanguages(' en , HI;pt-BR  en ')).toEqual(['en', 'hi', 'pt-br']);
  });
});

describe('business checks', () => {
  it('accepts an empty form and a full one', () => {
    expect(validateBusinessForm(emptyBusinessForm())).toEqual({});
    expect(validateBusinessForm(formFromProfile(demo))).toEqual({});
  });

  it('says what is wrong where it is', () => {
    const f = formWith({ phone: 'call 555', website: 'ftp://x.example', languages: 'en, english!', name: 'x'.repeat(121) });
    const e = validateBusinessForm(f);
    expect(e.phone).toBeUndefined(); // the server's to judge
    expect(e.website).toMatch(/http/);
    expect(e.languages).toMatch(/"english!" is not a language tag/);
    expect(e.name).toMatch(/at most 120 characters \(this is 121\)/);
    expect(firstError(e)).toBe('name');
    expect(validateBusinessForm(formWith({ languages: 'a1 b2 c3 d4 e5 f6 g7 h8 i9 j0 k1' })).languages).toMatch(/At most 10/);
    expect(validateBusinessForm(formWith({ personaNotes: 'n'.repeat(2001) })).personaNotes).toMatch(/2000/);
  });

  it('checks each weekday on its own row', () => {
    expect(hoursRowError({ day: 'Monday', open: '', close: '', closed: false })).toBeNull();
    expect(hoursRowError({ day: 'Monday', open: '', close: '', closed: true })).toBeNull();
    expect(hoursRowError({ day: 'Monday', open: '09:00', close: '', closed: false })).toMatch(/Monday needs both/);
    expect(hoursRowError({ day: 'Monday', open: '18:00', close: '09:00', closed: false })).toMatch(/closes before it opens/);
    expect(hoursRowError({ day: 'Monday', open: '09:00', close: '09:00', closed: false })).toMatch(/closes before it opens/);
    expect(hoursRowError({ day: 'Monday', open: 'nine', close: '17:00', closed: false })).toMatch(/HH:MM/);
    expect(hoursRowError({ day: 'Monday', open: '20:00', close: '24:00', closed: false })).toBeNull();
    const f = emptyBusinessForm();
    f.hours[4] = { day: 'Friday', open: '', close: '17:00', closed: false };
    const e = validateBusinessForm(f);
    expect(Object.keys(e)).toEqual(['hours.Friday']);
    expect(firstError(e)).toBe('hours.Friday');
  });

  it("places the server's 422 next to the field it names", () => {
    expect(placeServerError('phone: may hold only digits, spaces and + - ( ) .')).toEqual({
      key: 'phone',
      problem: 'May hold only digits, spaces and + - ( ) .',
    });
    expect(placeServerError('persona_notes: must be at most 2000 characters (got 2001)').key).toBe('personaNotes');
    expect(placeServerError('hours: Thursday closes before it opens')).toEqual({
      key: 'hours.Thursday',
      problem: 'Thursday closes before it opens',
    });
    expect(placeServerError("hours: 'Funday' is not a weekday").key).toBe('hours');
    expect(placeServerError('languages[1]: bad').key).toBe('languages');
    const whole = placeServerError('profile: names, greeting, address and phone are one line each');
    expect(whole).toEqual({ key: null, problem: 'profile: names, greeting, address and phone are one line each' });
    expect(placeServerError('Failed to deserialize the JSON body').key).toBeNull();
  });
});

describe('business draft', () => {
  it('is kept while the form differs from the saved profile, and restored', () => {
    const s = memory();
    const f = formFromProfile(demo);
    saveBusinessDraft(s, f, demo);
    expect(s.map.has(BUSINESS_DRAFT_KEY)).toBe(false);
    f.phone = '+1 555 0199';
    f.hours[6] = { day: 'Sunday', open: '10:00', close: '', closed: false };
    saveBusinessDraft(s, f, demo);
    expect(loadBusinessDraft(s)).toEqual(f);
    const init = initialForm(demo, loadBusinessDraft(s));
    expect(init.restored).toBe(true);
    expect(init.form.phone).toBe('+1 555 0199');
    // Once saved on the server, the draft is nothing new.
    const savedNow = { ...demo, phone: '+1 555 0199', hours: profileFromForm(f).hours };
    expect(initialForm(savedNow, loadBusinessDraft(s)).restored).toBe(false);
    f.phone = demo.phone ?? '';
    f.hours[6] = { day: 'Sunday', open: '', close: '', closed: false };
    saveBusinessDraft(s, f, demo);
    expect(s.map.has(BUSINESS_DRAFT_KEY)).toBe(false);
    clearBusinessDraft(s);
    expect(initialForm(demo, null)).toEqual({ form: formFromProfile(demo), restored: false });
  });

  it('survives a broken or old draft and a storage that throws', () => {
    const s = memory();
    s.setItem(BUSINESS_DRAFT_KEY, '{not json');
    expect(loadBusinessDraft(s)).toBeNull();
    expect(parseBusinessForm(null)).toBeNull();
    const old = parseBusinessForm({ name: 'A', phone: 5, hours: [{ day: 'friday', open: '09:00', closed: 'yes' }, 'x'] });
    expect(old?.name).toBe('A');
    expect(old?.phone).toBe('');
    expect(old?.hours[4]).toEqual({ day: 'Friday', open: '09:00', close: '', closed: false });
    const throwing: KeyValueStore = {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('quota');
      },
      removeItem: () => {
        throw new Error('denied');
      },
    };
    expect(loadBusinessDraft(throwing)).toBeNull();
    expect(() => saveBusinessDraft(throwing, formWith({ name: 'x' }), demo)).not.toThrow();
    expect(loadBusinessDraft(null)).toBeNull();
  });
});

describe('first run', () => {
  it('shows until the business has a name, unless skipped in this browser', () => {
    expect(needsFirstRun(fresh, false)).toBe(true);
    expect(needsFirstRun({}, false)).toBe(true);
    expect(needsFirstRun({ name: '  ' }, false)).toBe(true);
    expect(needsFirstRun(fresh, true)).toBe(false);
    expect(needsFirstRun(demo, false)).toBe(false);
  });

  it('saves the name and website over what is saved, and onboards the website', () => {
    const current = { ...fresh, phone: '+1 555 0100' };
    const r = welcomeSubmission({ name: ' Harbor Dental ', website: 'harbor-dental.example' }, current);
    expect(r.errors).toEqual({});
    expect(r.profile).toEqual({ ...current, name: 'Harbor Dental', website: 'https://harbor-dental.example' });
    expect(r.onboardUrl).toBe('https://harbor-dental.example');
  });

  it('needs no website', () => {
    const r = welcomeSubmission({ name: 'Harbor Dental', website: ' ' }, fresh);
    expect(r.profile).toEqual({ ...fresh, name: 'Harbor Dental' });
    expect(r.onboardUrl).toBeNull();
  });

  it('asks for a name and a usable website', () => {
    const r = welcomeSubmission({ name: '', website: 'ftp://x.example' }, fresh);
    expect(r.profile).toBeNull();
    expect(r.errors.name).toMatch(/name/);
    expect(r.errors.website).toMatch(/http/);
    expect(welcomeSubmission({ name: 'x'.repeat(121), website: '' }, fresh).errors.name).toMatch(/at most 120/);
  });
});
