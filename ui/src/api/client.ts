// A small typed wrapper over fetch for the Switchboard API. Routes, params,
// bodies and responses are checked against the generated OpenAPI types.
import type { paths as ApiPaths } from './schema';
import type { ErrorCode, HelpRequest } from './types';
import { readSse, type SseMessage } from '../lib/sse';

export type Method = 'get' | 'post' | 'put' | 'delete';

type Op<P extends keyof ApiPaths, M extends Method> = M extends keyof ApiPaths[P]
  ? NonNullable<ApiPaths[P][M]>
  : never;

/** The routes that have an operation for method `M`. */
export type RoutesFor<M extends Method> = {
  [P in keyof ApiPaths]: [Op<P, M>] extends [never] ? never : P;
}[keyof ApiPaths];

type Params<O> = O extends { parameters: infer X } ? X : never;
type PathParams<O> = Params<O> extends { path: infer X } ? X : never;
type QueryParams<O> = Params<O> extends { query?: infer Q } ? NonNullable<Q> : never;
type Body<O> = O extends { requestBody: { content: { 'application/json': infer B } } } ? B : never;
type Responses<O> = O extends { responses: infer R } ? R : never;
type JsonOf<R> = R extends { content: { 'application/json': infer T } } ? T : undefined;
/** The body of the operation's success response (200, 201, 202 or 204). */
export type SuccessBody<O> = Responses<O> extends { 200: infer R }
  ? JsonOf<R>
  : Responses<O> extends { 201: infer R }
    ? JsonOf<R>
    : Responses<O> extends { 202: infer R }
      ? JsonOf<R>
      : undefined;

type Opt<K extends string, T> = [T] extends [never] ? { [k in K]?: undefined } : { [k in K]: T };
type OptLoose<K extends string, T> = [T] extends [never] ? { [k in K]?: undefined } : { [k in K]?: T };

export type RequestOptions<O> = Opt<'path', PathParams<O>> &
  OptLoose<'query', QueryParams<O>> &
  Opt<'body', Body<O>> & { signal?: AbortSignal };

/** What the API says went wrong: `{"error": {"code", "message", "details"}}`. */
export class ApiError extends Error {
  /** HTTP status; 0 when the server could not be reached. */
  readonly status: number;
  /** The API's error code, or `network` / `http` when there was no API body. */
  readonly code: ErrorCode | 'network' | 'http';
  readonly details: unknown;

  constructor(status: number, code: ApiError['code'], message: string, details?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /**
   * The field a validation message names: the server writes
   * `"<field>: <problem>"`, e.g. `answer: must not be empty`.
   */
  get field(): string | undefined {
    if (this.code !== 'validation_failed') return undefined;
    const m = /^([a-z_][a-z0-9_.]*): /i.exec(this.message);
    return m ? m[1] : undefined;
  }

  /** The problem without the field prefix, for showing next to the field. */
  get problem(): string {
    const f = this.field;
    return f ? this.message.slice(f.length + 2) : this.message;
  }
}

const CODES: readonly string[] = [
  'bad_request',
  'unauthorized',
  'not_found',
  'conflict',
  'payload_too_large',
  'unsupported_media_type',
  'validation_failed',
  'unavailable',
  'internal',
];

/** Turns an error response's status and body text into an `ApiError`. */
export function errorFromBody(status: number, text: string): ApiError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const err = (parsed as { error?: unknown } | undefined)?.error;
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; details?: unknown };
    const code = typeof e.code === 'string' && CODES.includes(e.code) ? (e.code as ErrorCode) : 'http';
    const message = typeof e.message === 'string' && e.message ? e.message : `request failed (HTTP ${status})`;
    return new ApiError(status, code, message, e.details);
  }
  const snippet = text.trim().slice(0, 200);
  return new ApiError(status, 'http', snippet ? `HTTP ${status}: ${snippet}` : `request failed (HTTP ${status})`);
}

/** The request as it is now, when a response lost a race (409 on answering). */
export function conflictCurrent(err: unknown): HelpRequest | undefined {
  if (!(err instanceof ApiError) || err.status !== 409) return undefined;
  const cur = (err.details as { current?: unknown } | undefined)?.current;
  if (cur && typeof cur === 'object' && 'id' in cur && 'status' in cur) return cur as HelpRequest;
  return undefined;
}

/** A sentence for any error, for showing where the user acted. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.code === 'network') return `${err.message}. Check that Switchboard is running, then try again.`;
    return err.message.charAt(0).toUpperCase() + err.message.slice(1);
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The file name in a `Content-Disposition` header, if any. */
export function dispositionFilename(header: string | null): string | null {
  if (!header) return null;
  const m = /filename="([^"]+)"/i.exec(header) ?? /filename=([^;]+)/i.exec(header);
  return m ? m[1].trim() : null;
}

/** Options as `send` reads them: path params, query, JSON body. */
interface RawOptions {
  path?: Record<string, string | number>;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  signal?: AbortSignal;
}

export interface ClientOptions {
  /** Where the API lives; defaults to the page's origin. */
  baseUrl?: string;
  /** The bearer token, read on every request. */
  token: () => string | null;
  /** Called on any 401, before the error is thrown. */
  onUnauthorized?: (err: ApiError) => void;
  fetch?: typeof fetch;
}

export function buildUrl(base: string, path: string, params?: { path?: object; query?: object }): string {
  let p = path;
  for (const [k, v] of Object.entries(params?.path ?? {})) {
    p = p.replace(`{${k}}`, encodeURIComponent(String(v)));
  }
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params?.query ?? {})) {
    if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  }
  const q = qs.toString();
  return base.replace(/\/$/, '') + p + (q ? `?${q}` : '');
}

export class ApiClient {
  readonly baseUrl: string;
  private readonly opts: ClientOptions;
  private readonly doFetch: typeof fetch;

  constructor(opts: ClientOptions) {
    this.opts = opts;
    this.baseUrl = opts.baseUrl ?? (typeof location !== 'undefined' ? location.origin : 'http://127.0.0.1:8787');
    this.doFetch = opts.fetch ?? ((input, init) => fetch(input, init));
  }

  /** `ws://` or `wss://` URL of the event stream, token in the query. */
  eventsUrl(): string {
    return this.wsUrl('/api/events');
  }

  /** The live stream of one session (snapshot, then its events). */
  sessionLiveUrl(id: string): string {
    return this.wsUrl(`/api/sessions/${encodeURIComponent(id)}/live`);
  }

  /** The live transcript of one interview room (snapshot, then lines, speakers, status). */
  roomLiveUrl(room: string): string {
    return this.wsUrl(`/api/rooms/${encodeURIComponent(room)}/transcript/live`);
  }

  /** The browser call (`rate`: the PCM16 rate sent and wanted back). */
  voiceStreamUrl(rate: number): string {
    const u = new URL(this.wsUrl('/api/voice/stream'));
    u.searchParams.set('rate', String(rate));
    u.searchParams.set('out_rate', String(rate));
    return u.toString();
  }

  private wsUrl(path: string): string {
    const u = new URL(path, this.baseUrl);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    const t = this.opts.token();
    if (t) u.searchParams.set('token', t);
    return u.toString();
  }

  /**
   * POSTs and reads the answer as server-sent events, calling `onMessage`
   * for each; resolves when the server ends the stream. Errors before the
   * stream starts are thrown as `ApiError`, like `request`; a stream cut off
   * by the network throws an `ApiError` with code `network`.
   */
  async stream<P extends RoutesFor<'post'>>(
    path: P,
    options: RequestOptions<Op<P, 'post'>>,
    onMessage: (m: SseMessage) => void,
  ): Promise<void> {
    const o = options as { path?: object; query?: object; body?: unknown; signal?: AbortSignal };
    const url = buildUrl(this.baseUrl, path as string, o);
    const headers: Record<string, string> = { Accept: 'text/event-stream', 'Content-Type': 'application/json' };
    const token = this.opts.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await this.doFetch(url, { method: 'POST', headers, body: JSON.stringify(o.body ?? {}), signal: o.signal });
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e;
      throw new ApiError(0, 'network', 'Could not reach the Switchboard server');
    }
    if (!res.ok) {
      const err = errorFromBody(res.status, await res.text());
      if (res.status === 401) this.opts.onUnauthorized?.(err);
      throw err;
    }
    if (!res.body) throw new ApiError(res.status, 'http', 'the server sent an empty reply stream');
    try {
      await readSse(res.body, onMessage);
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e;
      throw new ApiError(0, 'network', 'The connection dropped while the reply was streaming');
    }
  }

  /** GETs a file the API serves as an attachment: its bytes and suggested name. */
  async download(path: string, query?: Record<string, string>): Promise<{ blob: Blob; filename: string | null }> {
    const url = buildUrl(this.baseUrl, path, { query });
    const headers: Record<string, string> = {};
    const token = this.opts.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await this.doFetch(url, { headers });
    } catch {
      throw new ApiError(0, 'network', 'Could not reach the Switchboard server');
    }
    if (!res.ok) {
      const err = errorFromBody(res.status, await res.text());
      if (res.status === 401) this.opts.onUnauthorized?.(err);
      throw err;
    }
    return { blob: await res.blob(), filename: dispositionFilename(res.headers.get('content-disposition')) };
  }

  get<P extends RoutesFor<'get'>>(path: P, ...o: OptArgs<Op<P, 'get'>>) {
    return this.request<P, 'get'>('get', path, o[0] as RequestOptions<Op<P, 'get'>>);
  }
  post<P extends RoutesFor<'post'>>(path: P, ...o: OptArgs<Op<P, 'post'>>) {
    return this.request<P, 'post'>('post', path, o[0] as RequestOptions<Op<P, 'post'>>);
  }
  put<P extends RoutesFor<'put'>>(path: P, ...o: OptArgs<Op<P, 'put'>>) {
    return this.request<P, 'put'>('put', path, o[0] as RequestOptions<Op<P, 'put'>>);
  }
  delete<P extends RoutesFor<'delete'>>(path: P, ...o: OptArgs<Op<P, 'delete'>>) {
    return this.request<P, 'delete'>('delete', path, o[0] as RequestOptions<Op<P, 'delete'>>);
  }

  async request<P extends keyof ApiPaths, M extends Method>(
    method: M,
    path: P,
    options?: RequestOptions<Op<P, M>>,
  ): Promise<SuccessBody<Op<P, M>>> {
    return (await this.send(method, path as string, (options ?? {}) as RawOptions)) as SuccessBody<Op<P, M>>;
  }

  private async send(method: Method, path: string, o: RawOptions): Promise<unknown> {
    const url = buildUrl(this.baseUrl, path, o);
    const headers: Record<string, string> = { Accept: 'application/json' };
    const token = this.opts.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    const init: RequestInit = { method: method.toUpperCase(), headers, signal: o.signal };
    if (o.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(o.body);
    }
    let res: Response;
    try {
      res = await this.doFetch(url, init);
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e;
      throw new ApiError(0, 'network', 'Could not reach the Switchboard server');
    }
    const text = await res.text();
    if (!res.ok) {
      const err = errorFromBody(res.status, text);
      if (res.status === 401) this.opts.onUnauthorized?.(err);
      throw err;
    }
    if (!text) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ApiError(res.status, 'http', `the server sent a response that is not JSON (HTTP ${res.status})`);
    }
  }
}

/** Options are required only when the operation has path params or a body. */
type OptArgs<O> = [PathParams<O>] extends [never]
  ? [Body<O>] extends [never]
    ? [options?: RequestOptions<O>]
    : [options: RequestOptions<O>]
  : [options: RequestOptions<O>];
