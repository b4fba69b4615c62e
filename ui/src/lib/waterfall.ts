// The latency waterfall of a spoken turn: each stage from the end of the
// caller's speech, as bars that start where the previous mark ended.

export interface SpeechTimings {
  end_of_turn_ms?: number | null;
  transcript_final_ms?: number | null;
  retrieval_ms?: number | null;
  first_token_ms?: number | null;
  first_audio_ms?: number | null;
  playback_start_ms?: number | null;
  /** The transcript was made while the caller paused, before the end of turn. */
  preempted?: boolean | null;
}

export interface Stage {
  key: string;
  label: string;
  /** Where the bar starts and ends, ms from the end of speech. */
  from: number;
  to: number;
}

type Mark = Exclude<keyof SpeechTimings, 'preempted'>;

const MARKS: [Mark, string][] = [
  ['end_of_turn_ms', 'end of turn'],
  ['transcript_final_ms', 'transcript'],
  ['retrieval_ms', 'retrieval'],
  ['first_token_ms', 'first token'],
  ['first_audio_ms', 'first audio'],
  ['playback_start_ms', 'audio sent'],
];

/** The stages of a spoken turn; empty for a typed one. */
export function stages(t: SpeechTimings | null | undefined): Stage[] {
  if (!t || t.playback_start_ms == null) return [];
  const out: Stage[] = [];
  let prev = 0;
  for (const [key, label] of MARKS) {
    const at = t[key];
    if (at == null || !Number.isFinite(at)) continue;
    // Marks can coincide or, measured on different clocks, cross by a
    // hair; a bar never runs backwards.
    const to = Math.max(prev, at);
    out.push({ key, label, from: prev, to });
    prev = to;
  }
  return out;
}
