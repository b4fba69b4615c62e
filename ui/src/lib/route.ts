// Hash routes: #/queue/pending (default), #/queue/resolved,
// #/queue/unresolved, #/requests/<id>, #/sessions, #/sessions/<id>,
// #/knowledge, #/settings, #/onboarding, #/onboarding/<job id>,
// #/interviews, #/interviews/<room>, and the join page
// #/join?room=…&role=…&url=…&access_token=… (see lib/interview.ts).
import type { HelpStatus } from '../api/types';

export type Route =
  | { name: 'queue'; tab: HelpStatus }
  | { name: 'request'; id: string }
  | { name: 'sessions' }
  | { name: 'session'; id: string }
  | { name: 'knowledge' }
  | { name: 'settings' }
  | { name: 'onboarding'; job: string | null }
  | { name: 'interviews' }
  | { name: 'interview'; room: string }
  /** `query`: the join link's parameters as written (read by `parseJoinQuery`). */
  | { name: 'join'; query: string };

export const DEFAULT_ROUTE: Route = { name: 'queue', tab: 'pending' };

export function parseRoute(hash: string): Route {
  const full = hash.replace(/^#/, '').replace(/^\/+/, '');
  const path = full.split(/[?&]/)[0];
  const parts = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  switch (parts[0]) {
    case 'queue': {
      const tab = parts[1];
      if (tab === 'resolved' || tab === 'unresolved' || tab === 'pending') return { name: 'queue', tab };
      return DEFAULT_ROUTE;
    }
    case 'requests':
      return parts[1] ? { name: 'request', id: parts[1] } : DEFAULT_ROUTE;
    case 'sessions':
      return parts[1] ? { name: 'session', id: parts[1] } : { name: 'sessions' };
    case 'knowledge':
      return { name: 'knowledge' };
    case 'settings':
      return { name: 'settings' };
    case 'onboarding':
      return { name: 'onboarding', job: parts[1] ?? null };
    case 'interviews':
      return parts[1] ? { name: 'interview', room: parts[1] } : { name: 'interviews' };
    case 'join':
      return { name: 'join', query: full.slice(path.length).replace(/^[?&]+/, '') };
    default:
      return DEFAULT_ROUTE;
  }
}

export function routeHash(r: Route): string {
  switch (r.name) {
    case 'queue':
      return `#/queue/${r.tab}`;
    case 'request':
      return `#/requests/${encodeURIComponent(r.id)}`;
    case 'sessions':
      return '#/sessions';
    case 'session':
      return `#/sessions/${encodeURIComponent(r.id)}`;
    case 'knowledge':
      return '#/knowledge';
    case 'settings':
      return '#/settings';
    case 'onboarding':
      return r.job ? `#/onboarding/${encodeURIComponent(r.job)}` : '#/onboarding';
    case 'interviews':
      return '#/interviews';
    case 'interview':
      return `#/interviews/${encodeURIComponent(r.room)}`;
    case 'join':
      return r.query ? `#/join?${r.query}` : '#/join';
  }
}
