// What every framework example shows: a visit counter and a login form, on the same session API.
import { currentUserId } from 'sessionkit';

/** Escapes text for HTML. */
function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page for a session: its visits, its user, and the form to log in or out. */
export function page(framework, session) {
  const user = currentUserId(session);
  const form = user
    ? `<p>Logged in as <b>${escapeHtml(user)}</b>.</p>
       <form method="post" action="/logout"><button>Log out</button></form>`
    : `<form method="post" action="/login">
         <input name="user" placeholder="any name" required> <button>Log in</button>
       </form>`;
  return `<!doctype html><meta charset="utf-8"><title>sessionkit on ${framework}</title>
<h1>sessionkit on ${framework}</h1>
<p>Visits in this session: <b>${session.views}</b></p>
${form}`;
}

/** The store the examples use: SESSION_STORE_URL (redis://, postgres://, …) or the in-process MemoryStore. */
export async function exampleOptions() {
  const { createStore } = await import('sessionkit');
  const url = process.env.SESSION_STORE_URL;
  return {
    secret: process.env.SESSION_SECRET ?? 'example-secret-change-me-to-32-random-bytes',
    store: url ? await createStore(url) : undefined,
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: 3_600_000 },
  };
}

/** The user name from an urlencoded form body. */
export function userFrom(body) {
  return new URLSearchParams(body).get('user')?.trim().slice(0, 64) || 'anonymous';
}

export const port = Number(process.env.PORT ?? 3000);
