import { describe, expect, it } from 'vitest';
import { stages } from '../src/lib/waterfall';

describe('latency waterfall', () => {
  it('chains the marks of a spoken turn', () => {
    const s = stages({ end_of_turn_ms: 600, transcript_final_ms: 900, retrieval_ms: 950, first_token_ms: 960, first_audio_ms: 1000, playback_start_ms: 1001 });
    expect(s.map((x) => x.label)).toEqual(['end of turn', 'transcript', 'retrieval', 'first token', 'first audio', 'audio sent']);
    expect(s[1]).toMatchObject({ from: 600, to: 900 });
    expect(s[5]).toMatchObject({ from: 1000, to: 1001 });
  });

  it('skips missing marks, never runs backwards, and ignores typed turns', () => {
    const s = stages({ end_of_turn_ms: 600, transcript_final_ms: 580, playback_start_ms: 700 });
    expect(s.map((x) => [x.from, x.to])).toEqual([[0, 600], [600, 600], [600, 700]]);
    expect(stages({ first_token_ms: 20 })).toEqual([]);
    expect(stages(null)).toEqual([]);
  });
});
