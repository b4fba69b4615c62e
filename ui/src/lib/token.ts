// The API token: taken once from the URL (`#token=…` as `make run` prints
// it, or `?token=…`), kept in localStorage, and removed from the address bar.
import type { KeyValueStore } from './drafts';

export const TOKEN_KEY = 'switchboard.token';

export interface TokenFromUrl {
  token: string | null;
  /** The URL without the token, for history.replaceState; null when unchanged. */
  cleanUrl: string | null;
}

/** Finds a token in `href` and returns the URL without it. */
export function takeTokenFromUrl(href: string): TokenFromUrl {
  const url = new URL(href);
  let token: string | null = null;
  let changed = false;

  const q = url.searchParams.get('token');
  if (q !== null) {
    token = q.trim() || null;
    url.searchParams.delete('token');
    changed = true;
  }

  // The hash may be "#token=abc" or a route with it: "#/queue/pending&token=abc".
  const hash = url.hash.replace(/^#/, '');
  const m = /(^|[&?])token=([^&]*)/.exec(hash);
  if (m) {
    let t = m[2];
    try {
      t = decodeURIComponent(t);
    } catch {
      /* keep as is */
    }
    token = t.trim() || token;
    const rest = (hash.slice(0, m.index) + hash.slice(m.index + m[0].length)).replace(/^[&?]+|[&?]+$/g, '');
    url.hash = rest ? `#${rest}` : '';
    changed = true;
  }
  return { token, cleanUrl: changed ? url.toString() : null };
}

export function loadToken(storage: KeyValueStore | null): string | null {
  try {
    return storage?.getItem(TOKEN_KEY) || null;
  } catch {
    return null;
  }
}

export function saveToken(storage: KeyValueStore | null, token: string | null): void {
  try {
    if (token) storage?.setItem(TOKEN_KEY, token);
    else storage?.removeItem(TOKEN_KEY);
  } catch {
    /* storage unavailable: the token lives for this page only */
  }
}

/** Accepts a bare token or a whole URL pasted from the terminal. */
export function tokenFromPaste(text: string): string | null {
  const t = text.trim();
  if (!t) return null;
  if (/^https?:\/\//i.test(t)) {
    try {
      return takeTokenFromUrl(t).token;
    } catch {
      return null;
    }
  }
  return t.replace(/^#?token=/, '');
}
