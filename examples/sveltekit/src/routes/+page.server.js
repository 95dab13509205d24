import { redirect } from '@sveltejs/kit';
import { currentUserId, login, logout } from 'sessionkit';

export function load({ locals }) {
  locals.session.views = (locals.session.views ?? 0) + 1;
  return { views: locals.session.views, user: currentUserId(locals.session) };
}

export const actions = {
  login: async ({ locals, request }) => {
    const user =
      String((await request.formData()).get('user') ?? '')
        .trim()
        .slice(0, 64) || 'anonymous';
    await login(locals.session, user);
    redirect(303, '/');
  },
  logout: async ({ locals }) => {
    await logout(locals.session);
    redirect(303, '/');
  },
};
