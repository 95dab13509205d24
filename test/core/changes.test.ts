import { describe, expect, it } from 'vitest';
import {
  dataOf,
  diff,
  EMPTY_SNAPSHOT,
  hasData,
  recordWritten,
  takeSnapshot,
} from '../../src/core/changes.js';

const stored = () => ({ views: 1, user: { name: 'Ann', roles: ['reader'] }, flag: true, note: null });

describe('change detection', () => {
  it('finds nothing changed in a session read and left alone', () => {
    const session = { cookie: {}, ...stored() };
    const changes = diff(session, takeSnapshot(stored()));
    expect(changes).toMatchObject({ changed: false, set: {}, unset: [] });
  });

  it('finds a nested mutation, a new key and a changed primitive, and only those', () => {
    const session = { cookie: {}, ...stored() };
    const snapshot = takeSnapshot(stored());
    session.user.roles.push('writer');
    session.views = 2;
    Object.assign(session, { cart: [1] });
    const changes = diff(session, snapshot);
    expect(changes.changed).toBe(true);
    expect(changes.set).toEqual({ views: 2, user: { name: 'Ann', roles: ['reader', 'writer'] }, cart: [1] });
    expect(changes.unset).toEqual([]);
    expect(changes.json?.get('user')).toBe('{"name":"Ann","roles":["reader","writer"]}');
  });

  it('reports deleted keys, and keys set to undefined or a function, as unset', () => {
    const session: Record<string, unknown> = { cookie: {}, ...stored() };
    delete session.views;
    session.flag = undefined;
    session.note = () => 1;
    const changes = diff(session, takeSnapshot(stored()));
    expect(changes.unset.sort()).toEqual(['flag', 'note', 'views']);
    expect(changes.set).toEqual({});
  });

  it('does not count an object replaced by an equal copy, or a primitive set to its own value', () => {
    const session = { cookie: {}, ...stored() };
    const snapshot = takeSnapshot(stored());
    session.user = { name: 'Ann', roles: ['reader'] };
    session.views = 1;
    expect(diff(session, snapshot).changed).toBe(false);
  });

  it('bounds the data size from above, so the exact size check is skipped only when it is safe', () => {
    const data = { name: 'ünïcødé "quoted"\n', nested: { emoji: '😀'.repeat(20) }, n: 1.5e300, ok: false };
    const changes = diff(data, EMPTY_SNAPSHOT);
    expect(changes.boundBytes).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify(data)));
  });

  it('after recordWritten, the same session diffs clean, and a later change shows again', () => {
    const session = { cookie: {}, ...stored() };
    const snapshot = takeSnapshot(stored());
    session.user.name = 'Bob';
    recordWritten(snapshot, diff(session, snapshot));
    expect(diff(session, snapshot).changed).toBe(false);
    session.user.name = 'Cy';
    expect(diff(session, snapshot).set).toEqual({ user: { name: 'Cy', roles: ['reader'] } });
  });

  it('treats cookie as no data', () => {
    expect(hasData({ cookie: { maxAge: 1 } })).toBe(false);
    expect(hasData({ cookie: {}, views: 0 })).toBe(true);
    expect(dataOf({ cookie: {}, views: 0, fn: () => 1, gone: undefined })).toEqual({ views: 0 });
  });
});
