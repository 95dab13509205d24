// What a Server Component may do with the session: read it. Changing what its cookie carries (log in
// or out, regenerate, destroy, create) needs a Route Handler or a Server Action; here sessionkit
// refuses before the store is touched, so the visitor stays logged in.

import { currentUserId, logout, SessionError } from 'sessionkit';
import { getSession } from '../../lib/session';

export const dynamic = 'force-dynamic';

export default async function ServerComponentPage() {
  const session = await getSession();
  let outcome = 'logged out';
  try {
    await logout(session);
  } catch (error) {
    if (!(error instanceof SessionError)) throw error;
    outcome = `refused: ${error.code}`;
  }
  return (
    <main>
      <p>logout() in a Server Component: {outcome}.</p>
      <p>Still logged in as {currentUserId(await getSession()) ?? 'nobody'}.</p>
    </main>
  );
}
