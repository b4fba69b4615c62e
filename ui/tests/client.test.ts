import { describe, expect, expectTypeOf, it, vi } from 'vitest';
import {
  ApiClient,
  ApiError,
  buildUrl,
  conflictCurrent,
  describeError,
  dispositionFilename,
  errorFromBody,
} from '../src/api/client';
import type { SseMessage } from '../src/lib/sse';
import type { HelpRequest, Job, JobStarted, KnowledgeItem } from '../src/api/types';
import { request, resolved } from './fixtures';

function fakeFetch(status: number, body: unknown, calls: Array<{ url: string; init: RequestInit }> = []) {
  return vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    const text = typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body);
    return new Response(status === 204 ? null : text, { status });
  }) as unknown as typeof fetch;
}

describe('errorFromBody', () => {
  it('parses the API error body', () => {
    const e = errorFromBody(
      422,
      JSON.stringify({ error: { code: 'validation_failed', message: 'answer: must not be empty' } }),
    );
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(422);
    expect(e.code).toBe('validation_failed');
    expect(e.message).toBe('answer: must not be empty');
    expect(e.field).toBe('answer');
    expect(e.problem).toBe('must not be empty');
    expect(e.details).toBeUndefined();
  });

  it('keeps details', () => {
    const current = resolved(request());
    const e = errorFromBody(409, JSON.stringify({ error: { code: 'conflict', message: 'already answered', details: { current } } }));
    expect(e.details).toEqual({ current });
    expect(conflictCurrent(e)).toEqual(current);
    expect(e.field).toBeUndefined();
  });

  it('copes with bodies that are not the API format', () => {
    const html = errorFromBody(502, '<html>Bad gateway</html>');
    expect(html.code).toBe('http');
    expect(html.message).toContain('502');
    const empty = errorFromBody(500, '');
    expect(empty.message).toBe('request failed (HTTP 500)');
    const odd = errorFromBody(418, JSON.stringify({ error: { code: 'teapot' } }));
    expect(odd.code).toBe('http');
    expect(odd.message).toBe('request failed (HTTP 418)');
  });

  it('conflictCurrent is undefined for other errors', () => {
    expect(conflictCurrent(new Error('x'))).toBeUndefined();
    expect(conflictCurrent(errorFromBody(409, JSON.stringify({ error: { code: 'conflict', message: 'dup' } })))).toBeUndefined();
  });

  it('describeError capitalises and explains network failures', () => {
    expect(describeError(new ApiError(404, 'not_found', 'knowledge entry not found'))).toBe('Knowledge entry not found');
    expect(describeError(new ApiError(0, 'network', 'Could not reach the Switchboard server'))).toMatch(/try again/);
  });
});

describe('buildUrl', () => {
  it('fills path params and drops empty query values', () => {
    expect(buildUrl('http://h:1/', '/api/help-requests/{id}', { path: { id: 'a b' } })).toBe('http://h:1/api/help-requests/a%20b');
    expect(buildUrl('http://h', '/api/knowledge-base', { query: { q: 'open sundays?', limit: 5, offset: undefined } })).toBe(
      'http://h/api/knowledge-base?q=open+sundays%3F&limit=5',
    );
  });
});

describe('ApiClient', () => {
  it('sends the bearer token and JSON, and returns typed JSON', async () => {
    const calls: Array<{ url: string; init: RequestInit }> = [];
    const r = request();
    const api = new ApiClient({ baseUrl: 'http://h', token: () => 'tok', fetch: fakeFetch(200, { request: r, knowledge_entry: null }, calls) });
    const res = await api.post('/api/help-requests/{id}/response', { path: { id: r.id }, body: { answer: 'Yes' } });
    expectTypeOf(res.request).toEqualTypeOf<HelpRequest>();
    expect(res.request.id).toBe(r.id);
    expect(calls[0].url).toBe(`http://h/api/help-requests/${r.id}/response`);
    expect(calls[0].init.method).toBe('POST');
    const headers = calls[0].init.headers as Record<string, string>;
    expect(headers.Authorization).toBe('Bearer tok');
    expect(headers['Content-Type']).toBe('application/json');
    expect(JSON.parse(calls[0].init.body as string)).toEqual({ answer: 'Yes' });
  });

  it('types list responses and query params', async () => {
    const api = new ApiClient({ baseUrl: 'http://h', token: () => 't', fetch: fakeFetch(200, []) });
    const hits = await api.get('/api/knowledge-base', { query: { q: 'x', limit: 5 } });
    expectTypeOf(hits).toEqualTypeOf<KnowledgeItem[]>();
    const all = await api.get('/api/help-requests');
    expectTypeOf(all).toEqualTypeOf<HelpRequest[]>();
  });

  it('returns undefined for 204', async () => {
    const api = new ApiClient({ baseUrl: 'http://h', token: () => 't', fetch: fakeFetch(204, undefined) });
    await expect(api.delete('/api/knowledge-base/{id}', { path: { id: 'x' } })).resolves.toBeUndefined();
  });

  it('throws ApiError with status, code, message and details', async () => {
    const current = resolved(request(), { resolved_by: 'grace' });
    const api = new ApiClient({
      baseUrl: 'http://h',
      token: () => 't',
      fetch: fakeFetch(409, { error: { code: 'conflict', message: 'help request was already answered by grace', details: { current } } }),
    });
    const err = await api.post('/api/help-requests/{id}/response', { path: { id: current.id }, body: { answer: 'x' } }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(409);
    expect(err.code).toBe('conflict');
    expect(err.message).toBe('help request was already answered by grace');
    expect(conflictCurrent(err)?.resolved_by).toBe('grace');
  });

  it('calls onUnauthorized on 401', async () => {
    const onUnauthorized = vi.fn();
    const api = new ApiClient({
      baseUrl: 'http://h',
      token: () => 'bad',
      onUnauthorized,
      fetch: fakeFetch(401, { error: { code: 'unauthorized', message: 'invalid API token' } }),
    });
    await expect(api.get('/api/help-requests')).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    expect(onUnauthorized).toHaveBeenCalledOnce();
  });

  it('turns a failed fetch into a network ApiError', async () => {
    const api = new ApiClient({
      baseUrl: 'http://h',
      token: () => 't',
      fetch: (async () => {
        throw new TypeError('Failed to fetch');
      }) as unknown as typeof fetch,
    });
    await expect(api.get('/api/help-requests')).rejects.toMatchObject({ status: 0, code: 'network' });
  });

  it('builds the events URL with ws/wss and the token', () => {
    expect(new ApiClient({ baseUrl: 'http://127.0.0.1:8787', token: () => 'a/b' }).eventsUrl()).toBe(
      'ws://127.0.0.1:8787/api/events?token=a%2Fb',
    );
    expect(new ApiClient({ baseUrl: 'https://sb.example', token: () => 't' }).eventsUrl()).toBe('wss://sb.example/api/events?token=t');
  });

  it('builds a session live URL', () => {
    expect(new ApiClient({ baseUrl: 'http://h:1', token: () => 't' }).sessionLiveUrl('abc')).toBe('ws://h:1/api/sessions/abc/live?token=t');
  });

  it('builds a room transcript live URL', () => {
    expect(new ApiClient({ baseUrl: 'https://h:1', token: () => 't' }).roomLiveUrl('room-1')).toBe(
      'wss://h:1/api/rooms/room-1/transcript/live?token=t',
    );
  });
});

describe('ApiClient.stream (server-sent events over fetch)', () => {
  function sseFetch(chunks: string[], calls: Array<{ url: string; init: RequestInit }> = []) {
    return (async (url: RequestInfo | URL, init?: RequestInit) => {
      calls.push({ url: String(url), init: init ?? {} });
      const enc = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          for (const ch of chunks) c.enqueue(enc.encode(ch));
          c.close();
        },
      });
      return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    }) as unknown as typeof fetch;
  }

  it('POSTs with the token, asks for an event stream, and delivers each message in order', async () => {
    const calls: Array<{ url: string; init: RequestInit }> = [];
    const api = new ApiClient({
      baseUrl: 'http://h',
      token: () => 'tok',
      fetch: sseFetch(['event: turn\ndata: {"type":"tu', 'rn"}\n\nevent: tok', 'en\ndata: {"type":"token"}\n\n'], calls),
    });
    const got: SseMessage[] = [];
    await api.stream('/api/sessions/{id}/messages', { path: { id: 's1' }, body: { text: 'Hi' } }, (m) => got.push(m));
    expect(got.map((m) => [m.event, JSON.parse(m.data).type])).toEqual([
      ['turn', 'turn'],
      ['token', 'token'],
    ]);
    expect(calls[0].url).toBe('http://h/api/sessions/s1/messages');
    expect(calls[0].init.method).toBe('POST');
    const headers = calls[0].init.headers as Record<string, string>;
    expect(headers.Authorization).toBe('Bearer tok');
    expect(headers.Accept).toBe('text/event-stream');
    expect(JSON.parse(calls[0].init.body as string)).toEqual({ text: 'Hi' });
  });

  it('throws the API error when the server refuses before streaming (409, 422)', async () => {
    const api = new ApiClient({
      baseUrl: 'http://h',
      token: () => 't',
      fetch: fakeFetch(409, { error: { code: 'conflict', message: 'session has ended' } }),
    });
    const onMessage = vi.fn();
    await expect(api.stream('/api/sessions/{id}/messages', { path: { id: 's' }, body: { text: 'x' } }, onMessage)).rejects.toMatchObject({
      status: 409,
      code: 'conflict',
      message: 'session has ended',
    });
    expect(onMessage).not.toHaveBeenCalled();
    const api2 = new ApiClient({
      baseUrl: 'http://h',
      token: () => 't',
      fetch: fakeFetch(422, { error: { code: 'validation_failed', message: 'text: must not be empty' } }),
    });
    const err = await api2.stream('/api/sessions/{id}/messages', { path: { id: 's' }, body: { text: ' ' } }, onMessage).catch((e) => e);
    expect(err.field).toBe('text');
  });

  it('reports a network failure as a network ApiError', async () => {
    const api = new ApiClient({
      baseUrl: 'http://h',
      token: () => 't',
      fetch: (async () => {
        throw new TypeError('Failed to fetch');
      }) as unknown as typeof fetch,
    });
    await expect(api.stream('/api/sessions/{id}/messages', { path: { id: 's' }, body: { text: 'x' } }, () => {})).rejects.toMatchObject({
      code: 'network',
    });
  });
});

describe('dispositionFilename', () => {
  it('reads quoted and bare file names', () => {
    expect(dispositionFilename('attachment; filename="session-1.md"')).toBe('session-1.md');
    expect(dispositionFilename('attachment; filename=session-1.json')).toBe('session-1.json');
    expect(dispositionFilename('inline')).toBeNull();
    expect(dispositionFilename(null)).toBeNull();
  });
});

describe('the crawl routes', () => {
  it('go through the same fetch, token and errors as the typed routes', async () => {
    const { CrawlApi } = await import('../src/api/crawl');
    const calls: Array<{ url: string; init: RequestInit }> = [];
    const started = { job_id: 'j1', job: { id: 'j1' } };
    const c = new ApiClient({ baseUrl: 'http://h', token: () => 'tok', fetch: fakeFetch(202, started, calls) });
    const crawl = new CrawlApi(c);
    expect(await crawl.onboard({ url: 'https://example.com', max_pages: 5 })).toEqual(started);
    expect(calls[0].url).toBe('http://h/api/onboard');
    expect(calls[0].init.method).toBe('POST');
    expect((calls[0].init.headers as Record<string, string>).Authorization).toBe('Bearer tok');
    expect(JSON.parse(String(calls[0].init.body))).toEqual({ url: 'https://example.com', max_pages: 5 });
    await crawl.recrawl('a/b');
    expect(calls[1].url).toBe('http://h/api/job/a%2Fb/recrawl');
    await crawl.pages('j1');
    expect(calls[2].url).toBe('http://h/api/job/j1/pages');
    expect(calls[2].init.method).toBe('GET');
  });

  it('type the 202 bodies of onboard and recrawl from the schema', () => {
    const c = new ApiClient({ baseUrl: 'http://h', token: () => null });
    expectTypeOf<Awaited<ReturnType<typeof c.post<'/api/onboard'>>>>().toEqualTypeOf<JobStarted>();
    expectTypeOf<Awaited<ReturnType<typeof c.post<'/api/job/{id}/recrawl'>>>>().toEqualTypeOf<JobStarted>();
    expectTypeOf<Awaited<ReturnType<typeof c.get<'/api/jobs'>>>>().toEqualTypeOf<Job[]>();
  });

  it('turn a 422 into an ApiError whose message names the field', async () => {
    const { CrawlApi } = await import('../src/api/crawl');
    const body = { error: { code: 'validation_failed', message: 'max_pages: must be between 1 and 10000' } };
    const crawl = new CrawlApi(new ApiClient({ baseUrl: 'http://h', token: () => null, fetch: fakeFetch(422, body) }));
    const err = await crawl.onboard({ url: 'https://x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(422);
    expect((err as ApiError).field).toBe('max_pages');
  });

  it('report a 401 to the client like every other call', async () => {
    const { CrawlApi } = await import('../src/api/crawl');
    const seen: ApiError[] = [];
    const c = new ApiClient({
      baseUrl: 'http://h',
      token: () => 'bad',
      fetch: fakeFetch(401, { error: { code: 'unauthorized', message: 'bad token' } }),
      onUnauthorized: (e) => seen.push(e),
    });
    await expect(new CrawlApi(c).jobs()).rejects.toBeInstanceOf(ApiError);
    expect(seen).toHaveLength(1);
  });
});

describe('the business profile route', () => {
  it('GETs and PUTs /api/settings/business with the token, the body as JSON', async () => {
    const { BusinessApi } = await import('../src/api/business');
    const calls: Array<{ url: string; init: RequestInit }> = [];
    const profile = { name: 'Harbor Dental', hours: [{ day: 'Monday', open: '09:00', close: '17:00', closed: false }] };
    const biz = new BusinessApi(new ApiClient({ baseUrl: 'http://h', token: () => 'tok', fetch: fakeFetch(200, profile, calls) }));
    expect(await biz.get()).toEqual(profile);
    expect(calls[0].url).toBe('http://h/api/settings/business');
    expect(calls[0].init.method).toBe('GET');
    expect((calls[0].init.headers as Record<string, string>).Authorization).toBe('Bearer tok');
    expect(await biz.update(profile)).toEqual(profile);
    expect(calls[1].init.method).toBe('PUT');
    expect(JSON.parse(String(calls[1].init.body))).toEqual(profile);
  });

  it("turns the server's 422 into an ApiError naming the field", async () => {
    const { BusinessApi } = await import('../src/api/business');
    const body = { error: { code: 'validation_failed', message: 'phone: may hold only digits, spaces and + - ( ) .' } };
    const biz = new BusinessApi(new ApiClient({ baseUrl: 'http://h', token: () => null, fetch: fakeFetch(422, body) }));
    const err = await biz.update({ phone: 'call me' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).field).toBe('phone');
    expect((err as ApiError).problem).toBe('may hold only digits, spaces and + - ( ) .');
  });
});
