// The LiveKit settings form: what is typed, and the PUT body built from it.
import type { LiveKitSettings, LiveKitView } from '../api/types';

export interface LiveKitForm {
  url: string;
  apiKey: string;
  /** Write-only: never filled from the server; empty keeps the saved one. */
  apiSecret: string;
  /** Remove the saved secret on the next save (sends `api_secret: ""`). */
  removeSecret: boolean;
}

/** The form as the server's settings show it; the secret field always starts empty. */
export function liveKitFormFromView(v: LiveKitView): LiveKitForm {
  return { url: v.url ?? '', apiKey: v.api_key ?? '', apiSecret: '', removeSecret: false };
}

/** The URL or API key differs from what is saved: the server then drops the saved secret. */
export function endpointChanged(form: LiveKitForm, v: LiveKitView): boolean {
  return form.url.trim() !== (v.url ?? '') || form.apiKey.trim() !== (v.api_key ?? '');
}

/** Anything to save. */
export function liveKitDirty(form: LiveKitForm, v: LiveKitView): boolean {
  return endpointChanged(form, v) || form.apiSecret.trim() !== '' || form.removeSecret;
}

/**
 * The PUT body: empty URL / key are `null`; `api_secret` is absent when the
 * field is empty (keep the saved one), `""` to remove it, else the new one.
 */
export function liveKitBody(form: LiveKitForm): LiveKitSettings {
  const body: LiveKitSettings = { url: form.url.trim() || null, api_key: form.apiKey.trim() || null };
  if (form.removeSecret) body.api_secret = '';
  else if (form.apiSecret.trim()) body.api_secret = form.apiSecret.trim();
  return body;
}

/** What the secret field says while it is empty. */
export function secretPlaceholder(form: LiveKitForm, v: LiveKitView): string {
  if (form.removeSecret) return 'will be removed';
  if (!v.api_secret_set) return 'none saved';
  if (endpointChanged(form, v)) return 'type it again for the new URL or key';
  return 'saved — leave empty to keep';
}

/**
 * Said before sending, by field: a secret is needed when a URL or key is
 * given and no saved secret would be kept (none saved, being removed, or
 * saved for another URL or key). The server checks everything else.
 */
export function checkLiveKitForm(form: LiveKitForm, v: LiveKitView): Record<string, string> {
  const errors: Record<string, string> = {};
  const wanted = form.url.trim() !== '' || form.apiKey.trim() !== '';
  const kept = v.api_secret_set && !form.removeSecret && !endpointChanged(form, v);
  if (wanted && !form.apiSecret.trim() && !kept) {
    if (form.removeSecret) errors.api_secret = 'Without a secret LiveKit is off: empty the URL and API key too.';
    else if (v.api_secret_set) errors.api_secret = 'The saved secret is kept only for the same URL and API key: type it again.';
    else errors.api_secret = 'Type the API secret too (or empty the URL and API key to turn LiveKit off).';
  }
  return errors;
}
