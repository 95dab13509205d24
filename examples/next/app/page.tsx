// A Server Component: it can read the session, not write it (Next.js allows no cookies here).

import { currentUserId } from 'sessionkit';
import { getSession } from '../lib/session';
import { login, logout } from './actions';

export const dynamic = 'force-dynamic';

export default async function Page() {
  const session = await getSession();
  const user = currentUserId(session);
  return (
    <main>
      <h1>sessionkit on Next.js</h1>
      <p>Visits counted by POST /api/visit: {session.views ?? 0}</p>
      {user ? (
        <form action={logout}>
          <p>Logged in as {user}.</p>
          <button type="submit">Log out</button>
        </form>
      ) : (
        <form action={login}>
          <input name="user" placeholder="any name" required /> <button type="submit">Log in</button>
        </form>
      )}
    </main>
  );
}
