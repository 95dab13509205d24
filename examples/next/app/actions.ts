'use server';
// Server Actions: log in and out. Each saves, which stores the session and sets or clears the cookie.
import { redirect } from 'next/navigation';
import { getSession } from '../lib/session';

export async function login(form: FormData) {
  const session = await getSession();
  await session.login(String(form.get('user') ?? '').slice(0, 64) || 'anonymous');
  await (await getSession()).save();
  redirect('/');
}

export async function logout() {
  const session = await getSession();
  await session.logout();
  await (await getSession()).save();
  redirect('/');
}
