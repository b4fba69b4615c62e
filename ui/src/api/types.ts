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

/** Sent by the server instead of events the client fell behind on. */
export interface LaggedEvent {
  type: 'stream.lagged';
  missed?: number;
  seq?: number;
  at?: string;
}

/** Everything that can arrive on `/api/events`. */
export type AppEvent = ServerEvent | LaggedEvent;

/** `GET/PUT /api/settings`: `{"request_timeout_secs": int, "webhook_url": string|null}`. */
export type Settings = S['Settings'];

export const STATUSES: readonly HelpStatus[] = ['pending', 'resolved', 'unresolved'];
