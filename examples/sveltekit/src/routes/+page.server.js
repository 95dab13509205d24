import { redirect } from '@sveltejs/kit';

export function load({ locals }) {
  locals.session.views = (locals.session.views ?? 0) + 1;
  return { views: locals.session.views, user: locals.session.currentUserId() };
}

export const actions = {
  login: async ({ locals, request }) => {
    const user =
      String((await request.formData()).get('user') ?? '')
        .trim()
        .slice(0, 64) || 'anonymous';
    await locals.session.login(user);
    redirect(303, '/');
  },
  logout: async ({ locals }) => {
    await locals.session.logout();
    redirect(303, '/');
  },
};
