// Names for the API's shapes, taken from the generated OpenAPI types.
import type { components } from './schema';

type S = components['schemas'];

export type HelpRequest = S['HelpRequest'];
export type HelpStatus = S['HelpStatus'];
export type HistoryTurn = S['HistoryTurn'];
export type RespondInput = S['RespondInput'];
export type RespondResult = S['RespondResult'];
export type KnowledgeEntry = S['KnowledgeEntry'];
export type KnowledgeItem = S['KnowledgeItem'];
export type KnowledgeInput = S['KnowledgeInput'];
export type KnowledgeSource = S['KnowledgeSource'];
export type Notification = S['Notification'];
export type ErrorCode = S['ErrorCode'];
export type ServerEvent = S['Event'];

export type Session = S['Session'];
export type SessionStatus = S['SessionStatus'];
export type Channel = S['Channel'];
export type NewSession = S['NewSession'];
export type Turn = S['Turn'];
export type TurnRole = S['TurnRole'];
export type Grounding = S['Grounding'];
export type Evidence = S['Evidence'];
export type Decision = S['Decision'];
export type TurnTimings = S['TurnTimings'];
export type ToolRecord = S['ToolRecord'];
export type SessionView = S['SessionView'];
/** What a session's watchers (and the sender of a message) receive. */
export type SessionEvent = S['SessionEvent'];
export type AgentStatus = S['AgentStatus'];
export type ModelInfo = S['ModelInfo'];

/** Sent by the server instead of events the client fell behind on. */
export interface LaggedEvent {
  type: 'stream.lagged';
  missed?: number;
  seq?: number;
  at?: string;
}

/** Everything that can arrive on `/api/events`. */
export type AppEvent = ServerEvent | LaggedEvent;

/** The first frame of `/api/sessions/{id}/live`. */
export interface SessionSnapshot {
  type: 'snapshot';
  session: Session;
  turns: Turn[];
}

/** Everything that can arrive on `/api/sessions/{id}/live`. */
export type SessionFrame = SessionEvent | SessionSnapshot | LaggedEvent;

/** `GET/PUT /api/settings`: `{"request_timeout_secs": int, "webhook_url": string|null, "crawl_allow_private"?: bool}`. */
export type Settings = S['Settings'];

/** `PUT /api/settings/model`: the agent's language model (`api_key` write-only). */
export type ModelSettings = S['ModelSettings'];
/** `GET/PUT /api/settings/model`: the choice, whether a key is saved, the engine's state. */
export type ModelView = S['ModelView'];

/** `PUT /api/settings/livekit`: the LiveKit server (`api_secret` write-only: absent keeps it, `""` removes it). */
export type LiveKitSettings = S['LiveKitSettings'];
/** `GET/PUT /api/settings/livekit`: the LiveKit server, whether a secret is saved, whether the environment sets it. */
export type LiveKitView = S['LiveKitView'];
export type SpeechSettings = S['SpeechSettings'];
export type SpeechView = S['SpeechView'];
export type SpeechKeyView = S['SpeechKeyView'];
export type ServiceUsage = S['ServiceUsage'];

export const STATUSES: readonly HelpStatus[] = ['pending', 'resolved', 'unresolved'];

// Crawl jobs: onboarding a website (`POST /api/onboard`), re-crawls, their pages.
export type Job = S['Job'];
export type JobKind = S['JobKind'];
export type JobState = S['JobState'];
export type JobCounts = S['JobCounts'];
/** What a re-crawl found, relative to the previous crawl. */
export type JobChanges = S['JobChanges'];
/** `POST /api/onboard`: absent limits take the server's defaults (50 pages, depth 3). */
export type OnboardInput = S['OnboardInput'];
/** 202 from `POST /api/onboard` and `POST /api/job/{id}/recrawl`. */
export type JobStarted = S['JobCreated'];
export type PageStatus = S['PageStatus'];
/** One row of `GET /api/job/{id}/pages`. */
export type CrawledPage = S['CrawledPage'];
/** `crawl.progress` / `crawl.finished` on `/api/events`. */
export type CrawlEvent = Extract<ServerEvent, { type: 'crawl.progress' | 'crawl.finished' }>;
/** `GET/PUT /api/settings`; `crawl_allow_private` is absent from servers older than the crawler. */
export type SettingsWithCrawl = Settings;

/** The business the agent answers for (`GET/PUT /api/settings/business`); `name` null: not configured yet (the first-run screen shows). */
/** Every field may be absent on the way in (the server defaults it). */
export type BusinessProfile = Partial<Omit<S['BusinessProfile'], 'hours'>> & { hours?: OpeningHours[] };
/** One weekday's hours: `open`/`close` as `HH:MM` (24 h), or `closed`. */
export type OpeningHours = Partial<S['OpeningHours']> & { day: string };

export type ModelsView = S['ModelsView'];
export type ModelStatus = S['ModelStatus'];
export type InstallJob = S['InstallJob'];

// Interviews: LiveKit rooms the agent joins to transcribe (or to talk).
export type Room = S['Room'];
/** 201 from `POST /api/rooms/create`: the room with a token for each seat. */
export type CreatedRoom = S['CreatedRoom'];
/** `POST /api/tokens/generate`: a minted LiveKit token and the server URL to use it on. */
export type Grant = S['Grant'];
/** Who a participant is in a room; `viewer` only listens. */
export type ParticipantRole = S['ParticipantRole'];
export type RoomAgentMode = S['RoomAgentMode'];
export type RoomAgentState = S['RoomAgentState'];
export type RoomAgentStatus = S['RoomAgentStatus'];
export type Speaker = S['Speaker'];
export type SpeakerRole = S['SpeakerRole'];
/** A line with its speaker's name at the time it was sent. */
export type ExportedLine = S['ExportedLine'];
export type TranscriptLine = S['TranscriptLine'];
export type TranscriptExport = S['TranscriptExport'];
/** `GET /api/rooms/{room}/transcript`: the agent's status, speakers and lines. */
export type RoomTranscript = S['RoomTranscript'];
export type EvaluationWindow = S['EvaluationWindow'];

/** The first frame of `/api/rooms/{room}/transcript/live`. */
export interface RoomSnapshot {
  type: 'snapshot';
  status: RoomAgentStatus;
  transcript: TranscriptExport;
}

/** Everything that can arrive on `/api/rooms/{room}/transcript/live`. */
export type RoomFrame =
  | RoomSnapshot
  | { type: 'line'; line: TranscriptLine; speaker_name: string; latency_ms?: number | null }
  | { type: 'window'; window: EvaluationWindow }
  | { type: 'speaker'; speaker: Speaker }
  | { type: 'status'; status: RoomAgentStatus }
  | LaggedEvent;
