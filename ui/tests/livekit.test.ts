import { describe, expect, it } from 'vitest';
import type { LiveKitView } from '../src/api/types';
import {
  checkLiveKitForm,
  endpointChanged,
  liveKitBody,
  liveKitDirty,
  liveKitFormFromView,
  secretPlaceholder,
} from '../src/lib/livekit';

const saved: LiveKitView = {
  url: 'wss://lk.example',
  api_key: 'APIkey1',
  api_secret_set: true,
  from_environment: false,
  configured: true,
};
const none: LiveKitView = { url: null, api_key: null, api_secret_set: false, from_environment: false, configured: false };

describe('LiveKit settings form', () => {
  it('starts from the saved settings, never with the secret', () => {
    expect(liveKitFormFromView(saved)).toEqual({ url: 'wss://lk.example', apiKey: 'APIkey1', apiSecret: '', removeSecret: false });
    expect(liveKitFormFromView(none)).toEqual({ url: '', apiKey: '', apiSecret: '', removeSecret: false });
  });

  it('omits the secret when the field is empty, so the saved one is kept', () => {
    const body = liveKitBody({ url: ' wss://lk.example ', apiKey: 'APIkey1', apiSecret: '  ', removeSecret: false });
    expect(body).toEqual({ url: 'wss://lk.example', api_key: 'APIkey1' });
    expect('api_secret' in body).toBe(false);
  });

  it('sends a typed secret, an empty one to remove it, and null for empty fields', () => {
    expect(liveKitBody({ url: 'wss://x', apiKey: 'k', apiSecret: ' s3cret ', removeSecret: false }).api_secret).toBe('s3cret');
    expect(liveKitBody({ url: '', apiKey: '', apiSecret: 'ignored', removeSecret: true })).toEqual({
      url: null,
      api_key: null,
      api_secret: '',
    });
  });

  it('knows when there is something to save', () => {
    const f = liveKitFormFromView(saved);
    expect(liveKitDirty(f, saved)).toBe(false);
    expect(liveKitDirty({ ...f, url: 'wss://lk.example ' }, saved)).toBe(false);
    expect(liveKitDirty({ ...f, apiSecret: 'new' }, saved)).toBe(true);
    expect(liveKitDirty({ ...f, removeSecret: true }, saved)).toBe(true);
    expect(endpointChanged({ ...f, apiKey: 'other' }, saved)).toBe(true);
  });

  it('says in the placeholder whether a secret is saved and kept', () => {
    const f = liveKitFormFromView(saved);
    expect(secretPlaceholder(f, saved)).toBe('saved — leave empty to keep');
    expect(secretPlaceholder({ ...f, url: 'wss://other' }, saved)).toMatch(/type it again/);
    expect(secretPlaceholder({ ...f, removeSecret: true }, saved)).toBe('will be removed');
    expect(secretPlaceholder(liveKitFormFromView(none), none)).toBe('none saved');
  });

  it('asks for a secret before sending when none would be kept', () => {
    const f = liveKitFormFromView(saved);
    expect(checkLiveKitForm(f, saved)).toEqual({});
    expect(checkLiveKitForm({ ...f, apiSecret: 'new' }, saved)).toEqual({});
    expect(checkLiveKitForm({ ...f, url: 'wss://other' }, saved).api_secret).toMatch(/same URL and API key/);
    expect(checkLiveKitForm({ ...f, url: 'wss://other', apiSecret: 's' }, saved)).toEqual({});
    expect(checkLiveKitForm({ ...f, removeSecret: true }, saved).api_secret).toMatch(/LiveKit is off/);
    expect(checkLiveKitForm({ url: '', apiKey: '', apiSecret: '', removeSecret: true }, saved)).toEqual({});
    expect(checkLiveKitForm({ url: 'wss://x', apiKey: 'k', apiSecret: '', removeSecret: false }, none).api_secret).toMatch(/Type the API secret/);
    expect(checkLiveKitForm(liveKitFormFromView(none), none)).toEqual({});
  });
});
