import { describe, expect, it } from 'vitest';
import { parseRoute, routeHash } from '../src/lib/route';
import { takeTokenFromUrl, tokenFromPaste } from '../src/lib/token';

describe('routes', () => {
  it('parses every route and defaults to the pending queue', () => {
    expect(parseRoute('')).toEqual({ name: 'queue', tab: 'pending' });
    expect(parseRoute('#/')).toEqual({ name: 'queue', tab: 'pending' });
    expect(parseRoute('#/queue/resolved')).toEqual({ name: 'queue', tab: 'resolved' });
    expect(parseRoute('#/queue/unresolved')).toEqual({ name: 'queue', tab: 'unresolved' });
    expect(parseRoute('#/queue/bogus')).toEqual({ name: 'queue', tab: 'pending' });
    expect(parseRoute('#/requests/abc-1')).toEqual({ name: 'request', id: 'abc-1' });
    expect(parseRoute('#/knowledge')).toEqual({ name: 'knowledge' });
    expect(parseRoute('#/settings')).toEqual({ name: 'settings' });
    expect(parseRoute('#/nowhere')).toEqual({ name: 'queue', tab: 'pending' });
    expect(parseRoute('#/sessions')).toEqual({ name: 'sessions' });
    expect(parseRoute('#/sessions/')).toEqual({ name: 'sessions' });
    expect(parseRoute('#/sessions/0190-ab')).toEqual({ name: 'session', id: '0190-ab' });
    expect(parseRoute('#/sessions/a%2Fb')).toEqual({ name: 'session', id: 'a/b' });
    expect(parseRoute('#/onboarding')).toEqual({ name: 'onboarding', job: null });
    expect(parseRoute('#/onboarding/')).toEqual({ name: 'onboarding', job: null });
    expect(parseRoute('#/onboarding/0190-cd')).toEqual({ name: 'onboarding', job: '0190-cd' });
    expect(parseRoute('#/interviews')).toEqual({ name: 'interviews' });
    expect(parseRoute('#/interviews/room-1')).toEqual({ name: 'interview', room: 'room-1' });
    expect(parseRoute('#/join?room=r&role=viewer')).toEqual({ name: 'join', query: 'room=r&role=viewer' });
    expect(parseRoute('#/join/?room=r')).toEqual({ name: 'join', query: 'room=r' });
    expect(parseRoute('#/join')).toEqual({ name: 'join', query: '' });
  });

  it('round-trips', () => {
    for (const h of ['#/queue/pending', '#/queue/resolved', '#/requests/x', '#/sessions', '#/sessions/x', '#/knowledge', '#/settings', '#/onboarding', '#/onboarding/j1', '#/interviews', '#/interviews/r.1', '#/join?room=r&url=wss%3A%2F%2Fh', '#/join']) {
      expect(routeHash(parseRoute(h))).toBe(h);
    }
  });

  it('encodes ids', () => {
    expect(routeHash({ name: 'session', id: 'a/b' })).toBe('#/sessions/a%2Fb');
    expect(routeHash({ name: 'onboarding', job: 'a/b' })).toBe('#/onboarding/a%2Fb');
    expect(routeHash({ name: 'onboarding', job: null })).toBe('#/onboarding');
  });
});

describe('token from the URL', () => {
  it('takes #token= and removes it', () => {
    expect(takeTokenFromUrl('http://127.0.0.1:8787/#token=abc123')).toEqual({
      token: 'abc123',
      cleanUrl: 'http://127.0.0.1:8787/',
    });
  });

  it('takes ?token= and keeps the route', () => {
    expect(takeTokenFromUrl('http://h/?token=abc#/knowledge')).toEqual({ token: 'abc', cleanUrl: 'http://h/#/knowledge' });
  });

  it('takes a token that follows a route in the hash', () => {
    expect(takeTokenFromUrl('http://h/#/settings&token=xyz')).toEqual({ token: 'xyz', cleanUrl: 'http://h/#/settings' });
  });

  it('leaves a URL without a token alone', () => {
    expect(takeTokenFromUrl('http://h/#/queue/pending')).toEqual({ token: null, cleanUrl: null });
  });

  it('accepts a pasted token or a pasted URL', () => {
    expect(tokenFromPaste('  abc  ')).toBe('abc');
    expect(tokenFromPaste('http://127.0.0.1:8787/#token=abc')).toBe('abc');
    expect(tokenFromPaste('token=abc')).toBe('abc');
    expect(tokenFromPaste('   ')).toBeNull();
  });
});
