import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoString, utcString } from '../../src/core/time.js';

describe('isoString', () => {
  it('is exactly Date#toISOString for any time a Date holds, repeated or not', () => {
    const time = fc.oneof(
      fc.integer({ min: -8.64e15, max: 8.64e15 }),
      fc.integer({ min: 1_700_000_000_000, max: 1_700_000_003_000 }),
      fc.double({ min: 0, max: 2e12, noNaN: true }),
    );
    fc.assert(
      fc.property(fc.array(time, { minLength: 1, maxLength: 20 }), (times) => {
        for (const ms of times) expect(isoString(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 2000 },
    );
  });

  it('throws the same RangeError as toISOString for a time no Date holds', () => {
    for (const ms of [Number.NaN, 8.64e15 + 1, Number.POSITIVE_INFINITY])
      expect(() => isoString(ms)).toThrow(RangeError);
  });
});

describe('utcString', () => {
  it('is exactly Date#toUTCString for any time, repeated or not', () => {
    const time = fc.oneof(
      fc.integer({ min: -8.64e15, max: 8.64e15 }),
      fc.integer({ min: 1_700_000_000_000, max: 1_700_000_003_000 }),
      fc.double({ min: -2e12, max: 2e12, noNaN: true }),
      fc.constantFrom(Number.NaN, 8.64e15 + 1, Number.POSITIVE_INFINITY, -0.5, 999.9),
    );
    fc.assert(
      fc.property(fc.array(time, { minLength: 1, maxLength: 20 }), (times) => {
        for (const ms of times) expect(utcString(ms)).toBe(new Date(ms).toUTCString());
      }),
      { numRuns: 2000 },
    );
  });
});
