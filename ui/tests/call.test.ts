import { describe, expect, it } from 'vitest';
import { fromPcm16, toPcm16 } from '../src/lib/call';

describe('browser call framing', () => {
  it('round-trips PCM16 and clips out-of-range samples', () => {
    const s = new Float32Array([0, 0.5, -0.5, 1, -1, 2, -2]);
    const back = fromPcm16(toPcm16(s));
    expect(back.length).toBe(7);
    expect(back[1]).toBeCloseTo(0.5, 3);
    expect(back[2]).toBeCloseTo(-0.5, 3);
    expect(back[5]).toBeCloseTo(1, 3);
    expect(back[6]).toBeCloseTo(-1, 3);
  });

  it('writes little-endian 16-bit samples', () => {
    const bytes = new Uint8Array(toPcm16(new Float32Array([1])));
    expect(Array.from(bytes)).toEqual([0xff, 0x7f]);
  });

  it('ignores a trailing odd byte', () => {
    expect(fromPcm16(new Uint8Array([0, 0, 1]).buffer).length).toBe(1);
  });
});
