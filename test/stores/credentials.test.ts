import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { maskCredentials, maskError, maskWith } from '../../src/stores/credentials.js';
import { createStore } from '../../src/stores/factory.js';
import { MySQLStore } from '../../src/stores/mysql.js';

/** Issue 23 item 6: a store URL's password never reaches a message, parsable URL or not. */
describe('credentials in store URLs are masked without parsing the URL', () => {
  it.each([
    [
      'a port that is not a number',
      'postgres://app:S3cretPW@db:54x32/app',
      'postgres://app:***@db:54x32/app',
    ],
    ['a parsable URL', 'redis://default:S3cretPW@cache:6379/0', 'redis://default:***@cache:6379/0'],
    ['no user', 'redis://:S3cretPW@cache', 'redis://:***@cache'],
    ['@ and / in the password', 'mysql://root:S3c/ret@PW@db/app', 'mysql://root:***@db/app'],
    ['a space in the host', 'mongodb://app:S3cretPW@db one/app', 'mongodb://app:***@db one/app'],
    [
      'a password parameter',
      'redis+sentinel://s1:26379/m?sentinelPassword=S3cretPW&db=2',
      'redis+sentinel://s1:26379/m?sentinelPassword=***&db=2',
    ],
    [
      'inside a sentence',
      'cannot open "postgres://u:S3cretPW@h/x": bad port',
      'cannot open "postgres://u:***@h/x": bad port',
    ],
  ])('%s', (_label, text, masked) => {
    expect(maskCredentials(text)).toBe(masked);
    expect(maskCredentials(text)).not.toContain('S3cret');
  });

  it('leaves URLs without a password, and other text, alone', () => {
    for (const text of [
      'postgres://app@db/app',
      'redis://cache:6379',
      'memory:',
      'sqlite:./data/x.db',
      'a: b @ c',
    ]) {
      expect(maskCredentials(text)).toBe(text);
    }
  });

  it('masks a password quoted away from its URL, raw and percent-decoded', () => {
    const url = 'postgres://app:p%40ss-W0rd@db:54x32/app';
    expect(maskWith('auth failed for password "p@ss-W0rd" (p%40ss-W0rd)', url)).toBe(
      'auth failed for password "***" (***)',
    );
  });

  it('masks the message, the stack and the causes of an error, in place', () => {
    const url = 'postgres://app:S3cretPW@db:54x32/app';
    const root = new Error(`driver: connect to ${url} failed`);
    const inner = new AggregateError([new Error(`tried ${url}`)], 'all failed');
    const error = new Error(`open ${url}`, { cause: Object.assign(root, { cause: inner }) });
    expect(maskError(error, url)).toBe(error);
    const texts = [error, root, inner, inner.errors[0] as Error].flatMap((e) => [e.message, e.stack ?? '']);
    for (const text of texts) expect(text).not.toContain('S3cretPW');
    expect(error.message).toBe('open postgres://app:***@db:54x32/app');
  });

  it('createStore() never puts the password of a URL it cannot parse in its error', async () => {
    const error = (await createStore('postgres://app:S3cretPW@db:54x32/app').then(
      () => new Error('opened'),
      (e: unknown) => e,
    )) as Error;
    expect(error).toMatchObject({ code: 'ERR_STORE_URL' });
    expect(error.message).toContain('postgres://app:***@db:54x32/app');
    expect(`${error.message}\n${error.stack}`).not.toContain('S3cretPW');
  });

  it('a store given a URL it cannot parse never carries the password, even in what util.inspect shows', () => {
    let error: unknown;
    try {
      new MySQLStore('mysql://app:S3cretPW@db:54x32/app');
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'ERR_INVALID_OPTION' });
    expect(inspect(error, { depth: 10 })).not.toContain('S3cretPW');
  });

  it("masks the `input` of Node's own URL error", () => {
    let error: unknown;
    try {
      new URL('postgres://app:S3cretPW@db:54x32/app');
    } catch (caught) {
      error = caught;
    }
    expect(inspect(error)).toContain('S3cretPW');
    expect(inspect(maskError(error))).not.toContain('S3cretPW');
  });
});
