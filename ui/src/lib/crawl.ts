// Onboarding a website: the form's checks, how the server's errors map to
// its fields, job states and skip reasons in words, progress, and which of
// two copies of a job is newer. Pure, so it is all tested without a DOM.
import type { CrawledPage, Job, JobCounts, JobState, OnboardInput, PageStatus } from '../api/types';

/** The server's defaults and limits for `POST /api/onboard`. */
export const DEFAULT_MAX_PAGES = 50;
export const MAX_PAGES_LIMIT = 10_000;
export const DEFAULT_MAX_DEPTH = 3;
export const MAX_DEPTH_LIMIT = 10;

/** The form as typed. */
export interface OnboardForm {
  url: string;
  maxPages: string;
  maxDepth: string;
  /** One path pattern a line. */
  include: string;
  exclude: string;
}

export type FormField = keyof OnboardForm;

export function emptyOnboardForm(): OnboardForm {
  return { url: '', maxPages: String(DEFAULT_MAX_PAGES), maxDepth: String(DEFAULT_MAX_DEPTH), include: '', exclude: '' };
}

/** Patterns, one a line: trimmed, blank lines dropped. */
export function parsePatterns(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
}

function checkInt(text: string, min: number, max: number, what: string): { value?: number; error?: string } {
  const t = text.trim();
  if (!t) return {};
  if (!/^\d+$/.test(t)) return { error: `Enter a whole number of ${what} from ${min} to ${max}.` };
  const n = Number(t);
  if (n < min || n > max) return { error: `Enter a number of ${what} from ${min} to ${max}.` };
  return { value: n };
}

/** Whether `text` is a full http(s) address with a host. */
export function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname.length > 0;
  } catch {
    return false;
  }
}

/**
 * Checks the form before sending. Empty limits take the server's defaults.
 * Returns the errors by field, and the request body when there are none.
 */
export function validateOnboardForm(f: OnboardForm): { errors: Partial<Record<FormField, string>>; input: OnboardInput | null } {
  const errors: Partial<Record<FormField, string>> = {};
  const url = f.url.trim();
  if (!url) errors.url = "Enter your website's address, like https://example.com.";
  else if (/^[a-z][a-z0-9+.-]*:/i.test(url) && !/^https?:/i.test(url)) {
    errors.url = 'Only web addresses can be crawled: start it with http:// or https://.';
  } else if (!isHttpUrl(url)) {
    errors.url = /^https?:/i.test(url)
      ? 'That is not a valid web address. Check it, e.g. https://example.com.'
      : 'Enter the full address, starting with http:// or https:// (like https://example.com).';
  }
  const pages = checkInt(f.maxPages, 1, MAX_PAGES_LIMIT, 'pages');
  if (pages.error) errors.maxPages = pages.error;
  const depth = checkInt(f.maxDepth, 0, MAX_DEPTH_LIMIT, 'links');
  if (depth.error) errors.maxDepth = depth.error;
  if (Object.keys(errors).length) return { errors, input: null };

  const input: OnboardInput = { url };
  if (pages.value !== undefined) input.max_pages = pages.value;
  if (depth.value !== undefined) input.max_depth = depth.value;
  const include = parsePatterns(f.include);
  const exclude = parsePatterns(f.exclude);
  if (include.length) input.include = include;
  if (exclude.length) input.exclude = exclude;
  return { errors, input };
}

const API_FIELD: Record<string, FormField> = {
  url: 'url',
  max_pages: 'maxPages',
  max_depth: 'maxDepth',
  include: 'include',
  exclude: 'exclude',
};

/**
 * Where a validation message from the server belongs: it writes
 * `"<field>: <problem>"` (`include[2]: ...` for one pattern). `field` is
 * null when the message names no field of the form.
 */
export function fieldOfMessage(message: string): { field: FormField | null; problem: string } {
  const m = /^([a-z_]+)(\[\d+\]|\.[\w.]+)?: (.*)$/is.exec(message.trim());
  if (!m || !(m[1] in API_FIELD)) return { field: null, problem: message };
  const problem = m[3].charAt(0).toUpperCase() + m[3].slice(1);
  const which = m[2]?.startsWith('[') ? ` (line ${Number(m[2].slice(1, -1)) + 1})` : '';
  return { field: API_FIELD[m[1]], problem: which ? `${problem}${which}` : problem };
}

// States

export const STATE_LABEL: Record<JobState, string> = {
  queued: 'Queued',
  running: 'Crawling',
  done: 'Done',
  failed: 'Failed',
  cancelled: 'Cancelled',
  interrupted: 'Interrupted',
};

/** The badge colour; the label always says it in words too. */
export const STATE_TONE: Record<JobState, 'accent' | 'ok' | 'danger' | 'warn' | 'neutral'> = {
  queued: 'neutral',
  running: 'accent',
  done: 'ok',
  failed: 'danger',
  cancelled: 'neutral',
  interrupted: 'warn',
};

export const KIND_LABEL: Record<Job['kind'], string> = { onboard: 'Onboarding', recrawl: 'Re-crawl' };

export function isActive(state: JobState): boolean {
  return state === 'queued' || state === 'running';
}

export function isFinished(state: JobState): boolean {
  return !isActive(state);
}

export const canCancel = (s: JobState): boolean => isActive(s);
export const canResume = (s: JobState): boolean => s === 'interrupted' || s === 'cancelled' || s === 'failed';
export const canRecrawl = (s: JobState): boolean => s === 'done';

// Skip reasons

const REASON_LABEL: Record<string, string> = {
  robots_disallowed: 'robots.txt disallows',
  depth_limit: 'too many links from the start (depth limit)',
  page_limit: 'page limit reached',
  excluded_pattern: 'excluded by a pattern',
  off_site: 'redirects off the site',
  not_html: 'not a web page',
  too_large: 'too large',
  redirect_loop: 'redirect loop',
  too_many_redirects: 'too many redirects',
  timeout: 'timed out',
  unreachable: 'could not connect',
  blocked_address: 'blocked: private address',
  duplicate_content: 'same text as another page',
  duplicate_url: 'same address as another page',
  infinite_space: 'endless pages (calendar or filters)',
  invalid_url: 'invalid address',
  noindex: 'page asks not to be indexed (noindex)',
  empty: 'no text to index',
};

const HTTP_WORDS: Record<number, string> = {
  400: 'bad request',
  401: 'needs a login',
  403: 'access denied',
  404: 'not found',
  408: 'server timed out',
  410: 'gone',
  429: 'too many requests',
  500: 'server error',
  502: 'bad gateway',
  503: 'server unavailable',
  504: 'gateway timed out',
};

/** The status code of an `http_status` reason in any of its forms (`http_status_404`, `http_status(404)`, `http_status:404`). */
export function httpStatusOf(code: string): number | null {
  const m = /^http_status(?:[_:]|\()?\s*(\d{3})\)?$/.exec(code.trim());
  return m ? Number(m[1]) : null;
}

/** A skip reason in words: "robots.txt disallows", "not found (HTTP 404)"; an unknown code as it is. */
export function reasonLabel(code: string): string {
  const known = REASON_LABEL[code];
  if (known) return known;
  const status = httpStatusOf(code);
  if (status !== null) {
    const words = HTTP_WORDS[status] ?? (status >= 500 ? 'server error' : status >= 400 ? 'refused' : 'unexpected reply');
    return `${words} (HTTP ${status})`;
  }
  if (code === 'http_status') return 'HTTP error';
  return code;
}

/** Whether a reason is a failure (counted in `errors` by the crawler), not a deliberate skip. */
export function isErrorReason(code: string): boolean {
  const status = httpStatusOf(code);
  if (status !== null) return status >= 500;
  return code === 'timeout' || code === 'unreachable' || code === 'redirect_loop' || code === 'too_many_redirects';
}

/** Skip counts by reason, most first (ties by label), with their labels. */
export function skippedByReason(counts: JobCounts): { reason: string; label: string; count: number }[] {
  return Object.entries(counts.skipped ?? {})
    .filter(([, n]) => n > 0)
    .map(([reason, count]) => ({ reason, label: reasonLabel(reason), count }))
    .sort((a, b) => b.count - a.count || a.label.localeCompare(b.label));
}

export function skippedTotal(counts: JobCounts): number {
  let n = 0;
  for (const v of Object.values(counts.skipped ?? {})) n += v;
  return n;
}

/**
 * A failed job's error in words: the server gives a reason code, alone or
 * after a sentence (`the start URL could not be crawled: blocked_address`).
 */
export function jobErrorText(error: string): string {
  const t = error.trim();
  if (/^[a-z_]+(\(\d+\))?$/.test(t)) return reasonLabel(t);
  const m = /^(.*): ([a-z_]+(?:\(\d+\))?)$/s.exec(t);
  if (m && reasonLabel(m[2]) !== m[2]) return `${m[1]}: ${reasonLabel(m[2])}`;
  return t;
}

/** Whether a failure is the private-address guard, which Settings can lift. */
export function isBlockedAddress(error: string | null | undefined): boolean {
  return !!error && /\bblocked_address\b/.test(error);
}

// Progress

export interface Progress {
  /** 0..1, or null while the crawler is still discovering (indeterminate). */
  fraction: number | null;
  /** URLs decided: indexed, unchanged, skipped or failed. */
  processed: number;
  /** URLs found so far. */
  total: number;
}

/**
 * How far a job is: decided URLs over discovered ones. Failures are counted
 * once whether or not the server also lists them among the skips.
 */
export function jobProgress(job: Job): Progress {
  const c = job.counts;
  let errorSkips = 0;
  for (const [reason, n] of Object.entries(c.skipped ?? {})) if (isErrorReason(reason)) errorSkips += n;
  const processed = c.indexed + c.unchanged + skippedTotal(c) + Math.max(0, c.errors - errorSkips);
  const total = Math.max(c.discovered, 0);
  if (job.state === 'done') return { fraction: 1, processed, total: Math.max(total, processed) };
  if (total === 0) return { fraction: isActive(job.state) ? null : 0, processed, total };
  return { fraction: Math.min(1, processed / total), processed, total };
}

// Which copy is newer

function rank(s: JobState): number {
  return isActive(s) ? 0 : 1;
}

/**
 * Whether `incoming` should replace `existing`. The later `updated_at` wins;
 * at the same time, the later event (`seq`) wins and a repeat of the same
 * event is ignored; without seqs, a finished copy beats a running one, and
 * otherwise the incoming copy wins.
 */
export function isNewerJob(incoming: Job, existing: Job | undefined, inSeq?: number, exSeq?: number): boolean {
  if (!existing) return true;
  const ti = Date.parse(incoming.updated_at);
  const te = Date.parse(existing.updated_at);
  if (ti !== te && !Number.isNaN(ti) && !Number.isNaN(te)) return ti > te;
  if (inSeq !== undefined && exSeq !== undefined) return inSeq > exSeq;
  return rank(incoming.state) >= rank(existing.state);
}

/** Newest first: by `created_at`, then id. */
export function compareJobs(a: Job, b: Job): number {
  const t = Date.parse(b.created_at) - Date.parse(a.created_at);
  if (t !== 0 && !Number.isNaN(t)) return t;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

// Pages

export const PAGE_STATUSES: readonly PageStatus[] = ['indexed', 'unchanged', 'skipped', 'removed', 'error'];

export const PAGE_STATUS_LABEL: Record<PageStatus, string> = {
  indexed: 'Indexed',
  unchanged: 'Unchanged',
  skipped: 'Skipped',
  removed: 'Removed',
  error: 'Error',
};

export type PageFilter = PageStatus | 'all';

export function filterPages(pages: CrawledPage[], filter: PageFilter): CrawledPage[] {
  return filter === 'all' ? pages : pages.filter((p) => p.status === filter);
}

export function countPages(pages: CrawledPage[]): Record<PageFilter, number> {
  const c: Record<PageFilter, number> = { all: pages.length, indexed: 0, unchanged: 0, skipped: 0, removed: 0, error: 0 };
  for (const p of pages) if (p.status in c) c[p.status]++;
  return c;
}

/** A job's site for lists: host and path, without the scheme or a trailing slash. */
export function siteLabel(url: string): string {
  try {
    const u = new URL(url);
    const path = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
    return `${u.host}${path}${u.search}`;
  } catch {
    return url;
  }
}

/** A one-line summary of a job's counts for the list. */
export function countsSummary(job: Job): string {
  const c = job.counts;
  const parts = [`${c.indexed} indexed`];
  if (c.unchanged) parts.push(`${c.unchanged} unchanged`);
  const skipped = skippedTotal(c);
  if (skipped) parts.push(`${skipped} skipped`);
  if (c.errors) parts.push(`${c.errors} ${c.errors === 1 ? 'error' : 'errors'}`);
  return parts.join(' · ');
}
