// The app's reactive state: token, data (kept current by events), the
// connection, the route and what is selected. Logic lives in the pure
// modules (state.ts, route.ts, ...); this file wires them to runes and I/O.
import { ApiClient, ApiError, describeError } from '../api/client';
import { BusinessApi } from '../api/business';
import { CrawlApi } from '../api/crawl';
import type {
  AgentStatus,
  AppEvent,
  BusinessProfile,
  HelpRequest,
  HelpStatus,
  Job,
  KnowledgeEntry,
  Session,
} from '../api/types';
import { FIRST_RUN_SKIPPED_KEY, needsFirstRun } from './business';
import { emptyOnboardForm, isActive, type OnboardForm } from './crawl';
import { browserStorage } from './drafts';
import { LiveEvents, type ConnState } from './events';
import { DEFAULT_ROUTE, parseRoute, routeHash, type Route } from './route';
import {
  applyEvent,
  countActiveSessions,
  countByStatus,
  emptyData,
  entriesNewestFirst,
  jobsOrdered,
  replaceJobs,
  upsertJob,
  replaceEntries,
  replaceRequests,
  replaceSessions,
  requestsWithStatus,
  sessionsOrdered,
  upsertEntry,
  upsertRequest,
  upsertSession,
  type Data,
} from './state';
import { loadToken, saveToken, takeTokenFromUrl } from './token';

const SUPERVISOR_KEY = 'switchboard.supervisor';
/** The knowledge list shows at most this many (the API's maximum page). */
export const KB_LIST_LIMIT = 500;
/** How long the app waits for the business profile before showing itself anyway. */
const FIRST_RUN_WAIT_MS = 4000;

/**
 * The first-run screen: `checking` while the profile loads after sign-in,
 * `show` when the business has no name yet (and this browser did not skip
 * it), `done` otherwise (also when the server has no profile route).
 */
export type FirstRun = 'checking' | 'show' | 'done';

declare global {
  interface Window {
    /** Set by a shell (e.g. the desktop app) whose page origin is not the API's. */
    __SWITCHBOARD_API_BASE__?: string;
  }
}

class AppStore {
  token = $state<string | null>(null);
  /** Why the token screen is showing, when it is not the first visit. */
  authMessage = $state<string | null>(null);

  data = $state<Data>(emptyData());
  requestsLoaded = $state(false);
  kbLoaded = $state(false);
  requestsError = $state<string | null>(null);
  kbError = $state<string | null>(null);
  sessionsLoaded = $state(false);
  sessionsError = $state<string | null>(null);
  /** What the agent runs on (`GET /api/agent`), loaded with the lists. */
  agent = $state<AgentStatus | null>(null);
  agentError = $state<string | null>(null);
  jobsLoaded = $state(false);
  jobsError = $state<string | null>(null);
  /** The server has no crawl routes (`GET /api/jobs` is 404): an older Switchboard. */
  jobsUnsupported = $state(false);
  /** The business profile (`GET /api/settings/business`), once loaded; null on servers without it. */
  profile = $state<BusinessProfile | null>(null);
  firstRun = $state<FirstRun>('checking');
  /** Bumped after every full refetch (first load, reconnect, lag): screens reload what they hold themselves. */
  resyncs = $state(0);

  conn = $state<ConnState>('stopped');
  retryInMs = $state<number | null>(null);

  /** Ticks every second, for live relative times. */
  now = $state(Date.now());
  route = $state<Route>(DEFAULT_ROUTE);
  /** The queue tab shown beside an open request. */
  tab = $state<HelpStatus>('pending');
  selectedRequest = $state<string | null>(null);
  selectedEntry = $state<string | null>(null);
  selectedSession = $state<string | null>(null);
  selectedJob = $state<string | null>(null);
  /** The interview room selected in its list (by name). */
  selectedRoom = $state<string | null>(null);
  /** The onboarding form as typed, kept across screens and failures. */
  onboardForm = $state<OnboardForm>(emptyOnboardForm());
  helpOpen = $state(false);
  /** Set by `/` from another screen: the knowledge screen focuses its search when it mounts. */
  focusSearchOnMount = false;
  /** Set when a test chat was just started: its message box takes focus when it mounts. */
  focusChatOnMount = false;
  supervisor = $state('');
  narrow = $state(false);

  counts = $derived(countByStatus(this.data));
  lists = $derived({
    pending: requestsWithStatus(this.data, 'pending'),
    resolved: requestsWithStatus(this.data, 'resolved'),
    unresolved: requestsWithStatus(this.data, 'unresolved'),
  });
  entries = $derived(entriesNewestFirst(this.data));
  sessions = $derived(sessionsOrdered(this.data));
  activeSessions = $derived(countActiveSessions(this.data));
  jobs = $derived(jobsOrdered(this.data));
  activeJobs = $derived(this.jobs.filter((j) => isActive(j.state)).length);

  readonly api: ApiClient;
  readonly crawl: CrawlApi;
  readonly business: BusinessApi;
  private live: LiveEvents | null = null;
  private listeners = new Set<(ev: AppEvent) => void>();
  private readonly storage = browserStorage();

  constructor() {
    const base = typeof window !== 'undefined' ? window.__SWITCHBOARD_API_BASE__ : undefined;
    this.api = new ApiClient({
      baseUrl: base,
      token: () => this.token,
      onUnauthorized: () => this.signOut('The server did not accept the token. Paste the current one.'),
    });
    this.crawl = new CrawlApi(this.api);
    this.business = new BusinessApi(this.api);
  }

  /** Reads the token, route and settings from the page; starts the clock. */
  init(): void {
    const { token, cleanUrl } = takeTokenFromUrl(location.href);
    if (cleanUrl) history.replaceState(history.state, '', cleanUrl);
    if (token) saveToken(this.storage, token);
    this.token = token ?? loadToken(this.storage);
    this.supervisor = this.storage?.getItem(SUPERVISOR_KEY) ?? '';

    this.syncRoute();
    window.addEventListener('hashchange', () => this.syncRoute());
    window.addEventListener('online', () => this.live?.retryNow());
    setInterval(() => (this.now = Date.now()), 1000);

    const mq = window.matchMedia('(max-width: 799px)');
    this.narrow = mq.matches;
    mq.addEventListener('change', (e) => (this.narrow = e.matches));

    if (this.token) this.connect();
  }

  signIn(token: string): void {
    saveToken(this.storage, token);
    this.token = token;
    this.authMessage = null;
    this.connect();
  }

  signOut(message: string | null): void {
    if (!this.token) return;
    this.live?.stop();
    this.live = null;
    saveToken(this.storage, null);
    this.token = null;
    this.authMessage = message;
    this.data = emptyData();
    this.requestsLoaded = this.kbLoaded = this.sessionsLoaded = this.jobsLoaded = false;
    this.agent = null;
    this.profile = null;
    this.firstRun = 'checking';
    this.firstRunCheck++;
    this.conn = 'stopped';
  }

  setSupervisor(name: string): void {
    this.supervisor = name;
    try {
      if (name.trim()) this.storage?.setItem(SUPERVISOR_KEY, name);
      else this.storage?.removeItem(SUPERVISOR_KEY);
    } catch {
      /* kept for this page */
    }
  }

  private firstRunCheck = 0;

  /**
   * Loads the business profile after sign-in and decides whether the
   * first-run screen shows. Without an answer in a few seconds (or with an
   * error) the app shows as usual; a name set later does not bring it back.
   */
  private async checkFirstRun(): Promise<void> {
    const check = ++this.firstRunCheck;
    let skipped = false;
    try {
      skipped = this.storage?.getItem(FIRST_RUN_SKIPPED_KEY) === '1';
    } catch {
      skipped = false;
    }
    this.firstRun = skipped ? 'done' : 'checking';
    const timer = setTimeout(() => {
      if (check === this.firstRunCheck && this.firstRun === 'checking') this.firstRun = 'done';
    }, FIRST_RUN_WAIT_MS);
    try {
      const p = await this.business.get();
      if (check !== this.firstRunCheck) return;
      this.profile = p;
      if (this.firstRun === 'checking') this.firstRun = needsFirstRun(p, skipped) ? 'show' : 'done';
    } catch (e) {
      if (check !== this.firstRunCheck || (e instanceof ApiError && e.status === 401)) return;
      // An older server (404) or one that cannot be reached: the app shows, with its own states.
      this.firstRun = 'done';
    } finally {
      clearTimeout(timer);
    }
  }

  /** The first-run screen is done: the business is saved (and its website maybe onboarding). */
  finishFirstRun(profile?: BusinessProfile): void {
    if (profile) this.profile = profile;
    this.firstRun = 'done';
  }

  /** "Skip for now": the first-run screen stays hidden in this browser; the queue opens. */
  skipFirstRun(): void {
    try {
      this.storage?.setItem(FIRST_RUN_SKIPPED_KEY, '1');
    } catch {
      /* hidden for this page */
    }
    this.firstRun = 'done';
    this.navigate({ name: 'queue', tab: 'pending' });
  }

  private connect(): void {
    void this.checkFirstRun();
    this.live?.stop();
    // Lists load at once (so the page is useful even if the socket is slow),
    // and again after every open of the socket so no event is missed.
    void this.refetchAll();
    this.live = new LiveEvents({
      url: () => this.api.eventsUrl(),
      onEvent: (ev) => this.apply(ev),
      onOpen: () => void this.refetchAll(),
      onState: (s, info) => {
        this.conn = s;
        this.retryInMs = info.retryInMs;
      },
    });
    this.live.start();
  }

  apply(ev: AppEvent): void {
    if (applyEvent(this.data, ev) === 'refetch') void this.refetchAll();
    for (const f of this.listeners) f(ev);
  }

  /** Also calls `f` with every event from `/api/events`; returns the unsubscribe function. */
  listen(f: (ev: AppEvent) => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  async refetchAll(): Promise<void> {
    await Promise.all([
      this.refetchRequests(),
      this.refetchKnowledge(),
      this.refetchSessions(),
      this.refetchAgent(),
      this.refetchJobs(),
    ]);
    this.resyncs++;
  }

  async refetchJobs(): Promise<void> {
    const since = this.data.tick;
    try {
      const list = await this.crawl.jobs();
      replaceJobs(this.data, list, since);
      this.jobsLoaded = true;
      this.jobsError = null;
      this.jobsUnsupported = false;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      if (e instanceof ApiError && (e.status === 404 || e.status === 405)) {
        this.jobsUnsupported = true;
        this.jobsError = null;
        return;
      }
      this.jobsError = `Could not load the crawl jobs: ${describeError(e)}`;
    }
  }

  putJob(j: Job): void {
    upsertJob(this.data, j);
  }

  async refetchSessions(): Promise<void> {
    const since = this.data.tick;
    try {
      const list = await this.api.get('/api/sessions');
      replaceSessions(this.data, list, since);
      this.sessionsLoaded = true;
      this.sessionsError = null;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      this.sessionsError = `Could not load the sessions: ${describeError(e)}`;
    }
  }

  async refetchAgent(): Promise<void> {
    try {
      this.agent = await this.api.get('/api/agent');
      this.agentError = null;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      this.agentError = `Could not ask the server about the agent: ${describeError(e)}`;
    }
  }

  putSession(s: Session): void {
    upsertSession(this.data, s);
  }

  async refetchRequests(): Promise<void> {
    const since = this.data.tick;
    try {
      const list = await this.api.get('/api/help-requests');
      replaceRequests(this.data, list, since);
      this.requestsLoaded = true;
      this.requestsError = null;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      this.requestsError = `Could not load the queue: ${describeError(e)}`;
    }
  }

  async refetchKnowledge(): Promise<void> {
    const since = this.data.tick;
    try {
      const list = await this.api.get('/api/knowledge-base', { query: { limit: KB_LIST_LIMIT } });
      replaceEntries(this.data, list, since);
      this.kbLoaded = true;
      this.kbError = null;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      this.kbError = `Could not load the knowledge base: ${describeError(e)}`;
    }
  }

  /** Loads one request that is not in the lists (e.g. a link to an old one). */
  async fetchRequest(id: string): Promise<HelpRequest> {
    const r = await this.api.get('/api/help-requests/{id}', { path: { id } });
    upsertRequest(this.data, r);
    return r;
  }

  putRequest(r: HelpRequest): void {
    upsertRequest(this.data, r);
  }

  putEntry(e: KnowledgeEntry): void {
    upsertEntry(this.data, e);
  }

  removeEntryLocally(id: string): void {
    if (id in this.data.kb) {
      delete this.data.kb[id];
      this.data.kbVersion++;
    }
  }

  navigate(r: Route): void {
    const h = routeHash(r);
    if (location.hash !== h) location.hash = h;
    else this.syncRoute();
  }

  /** Back from a request to its queue tab, from a session to the sessions list, from a room to the interviews. */
  back(): void {
    if (this.route.name === 'request') this.navigate({ name: 'queue', tab: this.tab });
    else if (this.route.name === 'session') this.navigate({ name: 'sessions' });
    else if (this.route.name === 'interview') this.navigate({ name: 'interviews' });
    else if (this.route.name === 'onboarding' && this.route.job) this.navigate({ name: 'onboarding', job: null });
  }

  private syncRoute(): void {
    const r = parseRoute(location.hash);
    this.route = r;
    if (r.name === 'queue') this.tab = r.tab;
    if (r.name === 'request') this.selectedRequest = r.id;
    if (r.name === 'session') this.selectedSession = r.id;
    if (r.name === 'interview') this.selectedRoom = r.room;
    if (r.name === 'onboarding' && r.job) this.selectedJob = r.job;
  }
}

export const app = new AppStore();

/** Actions a mounted screen handles (send, focus the answer, suggestions...). */
type Handler = () => boolean | void;
const handlers = new Map<string, Handler>();

/** Registers what an action does while a component is mounted; returns the unregister function. */
export function onAction(action: string, h: Handler): () => void {
  handlers.set(action, h);
  return () => {
    if (handlers.get(action) === h) handlers.delete(action);
  };
}

/** Runs a registered action; false when nothing on screen handles it. */
export function runAction(action: string): boolean {
  const h = handlers.get(action);
  if (!h) return false;
  return h() !== false;
}
