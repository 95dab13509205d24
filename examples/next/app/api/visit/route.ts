// A Route Handler: count a visit, save (stores the session and sets its cookie), answer JSON.

import { currentUserId } from 'sessionkit';
import { getSession } from '../../../lib/session';

export async function POST() {
  const session = await getSession();
  session.views = (session.views ?? 0) + 1;
  await session.save();
  return Response.json({ views: session.views, user: currentUserId(session) });
}
