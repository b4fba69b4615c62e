import { describe, expect, it } from 'vitest';
import { ApiError } from '../src/api/client';
import { hasErrors, loadSettings, saveFailure, saveSettings, settingsCard } from '../src/lib/settingsForm';

const refused = (message: string) => new ApiError(422, 'validation_failed', message);
const byField = (err: ApiError) => (err.field === 'url' ? { url: err.problem } : null);

describe('loading a settings card', () => {
  it('fills what the server sent and clears an earlier error', async () => {
    const card = settingsCard();
    card.loadError = 'earlier';
    let filled: string | null = null;
    await loadSettings(card, 'the test settings', async () => 'view', (v) => (filled = v));
    expect(filled).toBe('view');
    expect(card).toMatchObject({ loadError: null, unsupported: false });
  });

  it('marks the card unsupported when the server has no such settings', async () => {
    for (const status of [404, 405]) {
      const card = settingsCard();
      await loadSettings(card, 'the test settings', () => Promise.reject(new ApiError(status, 'not_found', 'no route')), () => {});
      expect(card).toMatchObject({ loadError: null, unsupported: true });
    }
  });

  it('takes only the statuses it is given as unsupported', async () => {
    const card = settingsCard();
    const get = () => Promise.reject(new ApiError(405, 'http', 'method not allowed'));
    await loadSettings(card, 'the settings', get, () => {}, [404]);
    expect(card.unsupported).toBe(false);
    expect(card.loadError).toBe('Could not load the settings: Method not allowed');
  });

  it('says what could not be loaded, and why', async () => {
    const card = settingsCard();
    await loadSettings(card, 'the test settings', () => Promise.reject(new ApiError(0, 'network', 'Could not reach the Switchboard server')), () => {});
    expect(card.unsupported).toBe(false);
    expect(card.loadError).toMatch(/^Could not load the test settings: Could not reach the Switchboard server\. .*try again/);
  });
});

describe('a failed save', () => {
  it('goes next to the field the server names', () => {
    expect(saveFailure(refused('url: must start with wss://'), byField)).toEqual({ fieldErrors: { url: 'must start with wss://' } });
  });

  it("shows the server's own words when asked, for a refusal the form cannot place", () => {
    const err = refused('api_secret: is too short');
    expect(saveFailure(err, byField, true)).toEqual({ formError: 'Not saved: is too short' });
    expect(saveFailure(err, byField)).toEqual({ formError: 'Not saved: Api_secret: is too short' });
  });

  it('describes a network failure, even when server words are asked for', () => {
    const err = new ApiError(0, 'network', 'Could not reach the Switchboard server');
    expect(saveFailure(err, byField, true)).toEqual({ formError: expect.stringMatching(/^Not saved: Could not reach .*try again/) });
    expect(saveFailure(new Error('boom'), byField, true)).toEqual({ formError: 'Not saved: boom' });
  });
});

describe('saving a settings card', () => {
  it('stops at the problems found before sending', async () => {
    const card = settingsCard();
    card.savedAt = 1;
    card.formError = 'earlier';
    let sent = false;
    let shown = 0;
    await saveSettings(card, {
      check: () => ({ url: 'Type a URL.' }),
      send: async () => ((sent = true), 'saved'),
      fill: () => {},
      place: byField,
      onFieldErrors: () => shown++,
    });
    expect(sent).toBe(false);
    expect(shown).toBe(1);
    expect(card).toMatchObject({ savedAt: null, formError: null, saving: false, fieldErrors: { url: 'Type a URL.' } });
  });

  it('is saving while it sends, then fills what was saved and says when', async () => {
    const card = settingsCard();
    card.fieldErrors = { url: 'earlier' };
    let savingWhileSent = false;
    let filled: string | null = null;
    await saveSettings(card, {
      check: () => ({}),
      send: async () => ((savingWhileSent = card.saving), 'saved'),
      fill: (v) => (filled = v),
      place: byField,
    });
    expect(savingWhileSent).toBe(true);
    expect(filled).toBe('saved');
    expect(card.saving).toBe(false);
    expect(card.fieldErrors).toEqual({});
    expect(card.savedAt).toBeTypeOf('number');
  });

  it('shows a refusal in place, or above the button, and keeps nothing as saved', async () => {
    const card = settingsCard();
    let filled = false;
    let shown = 0;
    const how = {
      fill: () => (filled = true),
      place: byField,
      serverWords: true,
      onFieldErrors: () => shown++,
    };
    await saveSettings(card, { ...how, send: () => Promise.reject(refused('url: is not a URL')) });
    expect(card).toMatchObject({ saving: false, savedAt: null, formError: null, fieldErrors: { url: 'is not a URL' } });
    expect(shown).toBe(1);
    await saveSettings(card, { ...how, send: () => Promise.reject(refused('api_key: is empty')) });
    expect(card).toMatchObject({ saving: false, savedAt: null, formError: 'Not saved: is empty', fieldErrors: {} });
    expect(shown).toBe(1);
    expect(filled).toBe(false);
  });

  it('counts only errors that say something', () => {
    expect(hasErrors({})).toBe(false);
    expect(hasErrors({ name: undefined })).toBe(false);
    expect(hasErrors({ name: 'Too long.' })).toBe(true);
  });
});
