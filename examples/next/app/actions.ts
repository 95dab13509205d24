'use server';
// Server Actions: log in and out. Each saves, which stores the session and sets or clears the cookie.
import { redirect } from 'next/navigation';
import { login as sessionLogin, logout as sessionLogout } from 'sessionkit';
import { getSession } from '../lib/session';

export async function login(form: FormData) {
  const session = await getSession();
  await sessionLogin(session, String(form.get('user') ?? '').slice(0, 64) || 'anonymous');
  await (await getSession()).save();
  redirect('/');
}

export async function logout() {
  const session = await getSession();
  await sessionLogout(session);
  await (await getSession()).save();
  redirect('/');
}
