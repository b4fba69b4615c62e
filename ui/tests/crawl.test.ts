import { describe, expect, it } from 'vitest';
import type { CrawledPage, JobCounts } from '../src/api/types';
import {
  canCancel,
  canRecrawl,
  canResume,
  countPages,
  countsSummary,
  emptyOnboardForm,
  fieldOfMessage,
  filterPages,
  httpStatusOf,
  isErrorReason,
  isBlockedAddress,
  isNewerJob,
  jobErrorText,
  jobProgress,
  parsePatterns,
  reasonLabel,
  siteLabel,
  skippedByReason,
  STATE_LABEL,
  validateOnboardForm,
  type OnboardForm,
} from '../src/lib/crawl';
import { job, later } from './fixtures';

const form = (over: Partial<OnboardForm> = {}): OnboardForm => ({ ...emptyOnboardForm(), url: 'https://example.com', ...over });
const counts = (over: Partial<JobCounts> = {}): JobCounts => ({
  discovered: 0,
  fetched: 0,
  indexed: 0,
  unchanged: 0,
  removed: 0,
  errors: 0,
  skipped: {},
  ...over,
});

describe('the onboarding form', () => {
  it('starts with the server defaults filled in', () => {
    expect(emptyOnboardForm()).toEqual({ url: '', maxPages: '50', maxDepth: '3', include: '', exclude: '' });
  });

  it('builds the request body from a valid form', () => {
    expect(validateOnboardForm(form())).toEqual({
      errors: {},
      input: { url: 'https://example.com', max_pages: 50, max_depth: 3 },
    });
    const r = validateOnboardForm(
      form({ url: '  http://127.0.0.1:8080/docs ', maxPages: '', maxDepth: '0', include: '/docs/*\n\n  /faq  \n', exclude: '*/print' }),
    );
    expect(r.errors).toEqual({});
    expect(r.input).toEqual({ url: 'http://127.0.0.1:8080/docs', max_depth: 0, include: ['/docs/*', '/faq'], exclude: ['*/print'] });
  });

  it('requires an http(s) address', () => {
    expect(validateOnboardForm(form({ url: '' })).errors.url).toMatch(/address/);
    expect(validateOnboardForm(form({ url: '   ' })).input).toBeNull();
    expect(validateOnboardForm(form({ url: 'ftp://example.com' })).errors.url).toMatch(/http:\/\/ or https:\/\//);
    expect(validateOnboardForm(form({ url: 'javascript:alert(1)' })).errors.url).toMatch(/http/);
    expect(validateOnboardForm(form({ url: 'example.com' })).errors.url).toMatch(/full address/);
    expect(validateOnboardForm(form({ url: 'not a url' })).errors.url).toBeDefined();
    expect(validateOnboardForm(form({ url: 'https://' })).errors.url).toMatch(/not a valid/);
    expect(validateOnboardForm(form({ url: 'HTTPS://Example.com/a?b=1' })).errors).toEqual({});
  });

  it('checks the limits are whole numbers in range', () => {
    expect(validateOnboardForm(form({ maxPages: '0' })).errors.maxPages).toMatch(/1 to 10000/);
    expect(validateOnboardForm(form({ maxPages: '10000' })).errors).toEqual({});
    expect(validateOnboardForm(form({ maxPages: '10001' })).errors.maxPages).toBeDefined();
    expect(validateOnboardForm(form({ maxPages: '2.5' })).errors.maxPages).toMatch(/whole number/);
    expect(validateOnboardForm(form({ maxPages: '-1' })).errors.maxPages).toBeDefined();
    expect(validateOnboardForm(form({ maxDepth: '11' })).errors.maxDepth).toMatch(/0 to 10/);
    expect(validateOnboardForm(form({ maxDepth: 'ten' })).errors.maxDepth).toBeDefined();
    expect(validateOnboardForm(form({ maxDepth: '10' })).input?.max_depth).toBe(10);
    const both = validateOnboardForm(form({ url: 'x', maxPages: 'lots', maxDepth: '99' }));
    expect(Object.keys(both.errors).sort()).toEqual(['maxDepth', 'maxPages', 'url']);
    expect(both.input).toBeNull();
  });

  it('reads patterns one a line', () => {
    expect(parsePatterns('')).toEqual([]);
    expect(parsePatterns(' /a/*\r\n\n/b \n')).toEqual(['/a/*', '/b']);
  });

  it('puts a server validation message next to the field it names', () => {
    expect(fieldOfMessage('url: must be an http or https URL')).toEqual({ field: 'url', problem: 'Must be an http or https URL' });
    expect(fieldOfMessage('max_pages: must be between 1 and 10000')).toEqual({
      field: 'maxPages',
      problem: 'Must be between 1 and 10000',
    });
    expect(fieldOfMessage('max_depth: too deep').field).toBe('maxDepth');
    expect(fieldOfMessage('include[1]: is not a valid pattern')).toEqual({
      field: 'include',
      problem: 'Is not a valid pattern (line 2)',
    });
    expect(fieldOfMessage('exclude: too many patterns').field).toBe('exclude');
    expect(fieldOfMessage('something went wrong')).toEqual({ field: null, problem: 'something went wrong' });
    expect(fieldOfMessage('body: expected an object').field).toBeNull();
  });
});

describe('skip reasons', () => {
  it('says each known reason in words', () => {
    expect(reasonLabel('robots_disallowed')).toBe('robots.txt disallows');
    expect(reasonLabel('blocked_address')).toBe('blocked: private address');
    expect(reasonLabel('depth_limit')).toMatch(/depth limit/);
    for (const code of [
      'page_limit',
      'excluded_pattern',
      'off_site',
      'not_html',
      'too_large',
      'redirect_loop',
      'too_many_redirects',
      'timeout',
      'unreachable',
      'duplicate_content',
      'duplicate_url',
      'infinite_space',
      'invalid_url',
      'noindex',
      'empty',
    ]) {
      expect(reasonLabel(code)).not.toBe(code);
      expect(reasonLabel(code)).not.toContain('_');
    }
  });

  it('reads HTTP statuses in their several spellings', () => {
    expect(httpStatusOf('http_status_404')).toBe(404);
    expect(httpStatusOf('http_status(503)')).toBe(503);
    expect(httpStatusOf('http_status:410')).toBe(410);
    expect(httpStatusOf('http_status')).toBeNull();
    expect(httpStatusOf('timeout')).toBeNull();
    expect(reasonLabel('http_status_404')).toBe('not found (HTTP 404)');
    expect(reasonLabel('http_status(404)')).toBe('not found (HTTP 404)');
    expect(reasonLabel('http_status_599')).toBe('server error (HTTP 599)');
    expect(reasonLabel('http_status_418')).toBe('refused (HTTP 418)');
    expect(reasonLabel('http_status')).toBe('HTTP error');
  });

  it("says a failed job's error in words", () => {
    expect(jobErrorText('blocked_address')).toBe('blocked: private address');
    expect(jobErrorText('the start URL could not be crawled: blocked_address')).toBe(
      'the start URL could not be crawled: blocked: private address',
    );
    expect(jobErrorText('the start URL could not be crawled: http_status(503)')).toBe(
      'the start URL could not be crawled: server unavailable (HTTP 503)',
    );
    expect(jobErrorText('disk full: not_a_reason')).toBe('disk full: not_a_reason');
    expect(jobErrorText('database error')).toBe('database error');
    expect(isBlockedAddress('the start URL could not be crawled: blocked_address')).toBe(true);
    expect(isBlockedAddress('timeout')).toBe(false);
    expect(isBlockedAddress(null)).toBe(false);
  });

  it('shows an unknown reason as its code', () => {
    expect(reasonLabel('quantum_flux')).toBe('quantum_flux');
  });

  it('knows which reasons are failures', () => {
    expect(isErrorReason('timeout')).toBe(true);
    expect(isErrorReason('http_status_502')).toBe(true);
    expect(isErrorReason('http_status(404)')).toBe(false);
    expect(isErrorReason('robots_disallowed')).toBe(false);
  });

  it('lists skip counts most first, without zeros', () => {
    const c = counts({ skipped: { not_html: 2, robots_disallowed: 5, http_status_404: 2, page_limit: 0 } });
    expect(skippedByReason(c)).toEqual([
      { reason: 'robots_disallowed', label: 'robots.txt disallows', count: 5 },
      { reason: 'not_html', label: 'not a web page', count: 2 },
      { reason: 'http_status_404', label: 'not found (HTTP 404)', count: 2 },
    ]);
  });
});

describe('progress', () => {
  it('is indeterminate while the crawler is still discovering', () => {
    expect(jobProgress(job({ state: 'queued' })).fraction).toBeNull();
    expect(jobProgress(job({ state: 'running' })).fraction).toBeNull();
  });

  it('is decided URLs over discovered ones', () => {
    const p = jobProgress(job({ counts: counts({ discovered: 10, indexed: 3, unchanged: 1, skipped: { not_html: 1 } }) }));
    expect(p).toEqual({ fraction: 0.5, processed: 5, total: 10 });
  });

  it('counts a failure once, whether or not it is also listed as a skip', () => {
    const listed = jobProgress(job({ counts: counts({ discovered: 4, indexed: 1, errors: 1, skipped: { timeout: 1 } }) }));
    expect(listed.processed).toBe(2);
    const apart = jobProgress(job({ counts: counts({ discovered: 4, indexed: 1, errors: 1, skipped: { not_html: 1 } }) }));
    expect(apart.processed).toBe(3);
  });

  it('never passes 100 %, and is full when done', () => {
    expect(jobProgress(job({ counts: counts({ discovered: 2, indexed: 5 }) })).fraction).toBe(1);
    const done = jobProgress(job({ state: 'done', counts: counts({ discovered: 0 }) }));
    expect(done.fraction).toBe(1);
    expect(jobProgress(job({ state: 'done', counts: counts({ discovered: 8, indexed: 3 }) })).fraction).toBe(1);
  });

  it('is a still bar when a job stopped before finding anything', () => {
    expect(jobProgress(job({ state: 'failed' })).fraction).toBe(0);
    expect(jobProgress(job({ state: 'cancelled', counts: counts({ discovered: 4, indexed: 1 }) })).fraction).toBe(0.25);
  });
});

describe('job states', () => {
  it('says every state in words', () => {
    expect(STATE_LABEL).toEqual({
      queued: 'Queued',
      running: 'Crawling',
      done: 'Done',
      failed: 'Failed',
      cancelled: 'Cancelled',
      interrupted: 'Interrupted',
    });
  });

  it('offers the actions each state allows', () => {
    expect(['queued', 'running'].every((s) => canCancel(s as never))).toBe(true);
    expect(canCancel('done')).toBe(false);
    expect(['interrupted', 'cancelled', 'failed'].every((s) => canResume(s as never))).toBe(true);
    expect(canResume('done')).toBe(false);
    expect(canResume('running')).toBe(false);
    expect(canRecrawl('done')).toBe(true);
    expect(canRecrawl('failed')).toBe(false);
  });
});

describe('which copy of a job is newer', () => {
  it('takes the later updated_at', () => {
    const a = job();
    const b = later(a, { counts: counts({ discovered: 3 }) });
    expect(isNewerJob(b, a)).toBe(true);
    expect(isNewerJob(a, b)).toBe(false);
    expect(isNewerJob(a, undefined)).toBe(true);
  });

  it('orders copies with the same time by seq, and drops repeats', () => {
    const a = job();
    const b = { ...a, counts: counts({ discovered: 2 }) };
    expect(isNewerJob(b, a, 8, 7)).toBe(true);
    expect(isNewerJob(b, a, 7, 8)).toBe(false);
    expect(isNewerJob(a, a, 7, 7)).toBe(false);
  });

  it('without seqs, a finished copy beats a running one of the same time', () => {
    const a = job({ state: 'running' });
    const done = { ...a, state: 'done' as const };
    expect(isNewerJob(done, a)).toBe(true);
    expect(isNewerJob(a, done)).toBe(false);
    expect(isNewerJob({ ...a }, a)).toBe(true);
  });

  it('a resumed job (later) replaces its interrupted copy', () => {
    const a = job({ state: 'interrupted' });
    expect(isNewerJob(later(a, { state: 'queued' }), a)).toBe(true);
  });
});

describe('pages and labels', () => {
  const page = (status: CrawledPage['status'], url: string): CrawledPage => ({
    url,
    title: null,
    status,
    reason: null,
    chunks: 0,
    updated_at: '2026-01-01T00:00:00Z',
  });
  const pages = [page('indexed', 'a'), page('indexed', 'b'), page('skipped', 'c'), page('error', 'd')];

  it('filters by status and counts each', () => {
    expect(filterPages(pages, 'all')).toHaveLength(4);
    expect(filterPages(pages, 'indexed').map((p) => p.url)).toEqual(['a', 'b']);
    expect(filterPages(pages, 'removed')).toEqual([]);
    expect(countPages(pages)).toEqual({ all: 4, indexed: 2, unchanged: 0, skipped: 1, removed: 0, error: 1 });
  });

  it('names a site by host and path', () => {
    expect(siteLabel('https://example.com/')).toBe('example.com');
    expect(siteLabel('http://127.0.0.1:8080/docs/')).toBe('127.0.0.1:8080/docs');
    expect(siteLabel('nonsense')).toBe('nonsense');
  });

  it('sums a job up in one line', () => {
    expect(countsSummary(job())).toBe('0 indexed');
    expect(countsSummary(job({ counts: counts({ indexed: 4, unchanged: 2, errors: 1, skipped: { a: 1, b: 2 } }) }))).toBe(
      '4 indexed · 2 unchanged · 3 skipped · 1 error',
    );
  });
});
