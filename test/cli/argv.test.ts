import { describe, expect, it } from 'vitest';
import { protectDashedHandle } from '../../src/cli/argv.js';

const dashed = `-${'a'.repeat(42)}`;

describe('handles that start with a dash', () => {
  it('are moved behind -- for show and revoke, wherever the options stand', () => {
    expect(protectDashedHandle(['revoke', dashed, '--json'])).toEqual(['revoke', '--json', '--', dashed]);
    expect(protectDashedHandle(['--store', 'sqlite:x.db', 'show', dashed])).toEqual([
      '--store',
      'sqlite:x.db',
      'show',
      '--',
      dashed,
    ]);
  });

  it('leave everything else alone', () => {
    expect(protectDashedHandle(['revoke', 'abc', '--json'])).toEqual(['revoke', 'abc', '--json']);
    expect(protectDashedHandle(['revoke', '--', dashed])).toEqual(['revoke', '--', dashed]);
    expect(protectDashedHandle(['revoke-user', 'u1', '--except', dashed])).toEqual([
      'revoke-user',
      'u1',
      '--except',
      dashed,
    ]);
    expect(protectDashedHandle(['list', '--cursor', dashed])).toEqual(['list', '--cursor', dashed]);
    expect(protectDashedHandle(['--version'])).toEqual(['--version']);
  });
});
