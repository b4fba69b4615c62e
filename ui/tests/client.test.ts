import { describe, expect, expectTypeOf, it, vi } from 'vitest';
import { ApiClient, ApiError, buildUrl, conflictCurrent, describeError, errorFromBody } from '../src/api/client';
import type { HelpRequest, KnowledgeItem } from '../src/api/types';
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
});
