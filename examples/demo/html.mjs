const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

class Raw {
  constructor(value) {
    this.value = value;
  }
  toString() {
    return this.value;
  }
}

export function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

function render(value) {
  if (value instanceof Raw) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(value);
}

/** A template tag that escapes every interpolated value unless it is itself `html`: no XSS by omission. */
export function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return new Raw(out);
}

const dateFormat = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short' });

export function when(ms) {
  return dateFormat.format(new Date(ms));
}

export function ago(ms, now = Date.now()) {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} days ago`;
}

/** "Chrome on Linux" from a user agent: enough to tell one's devices apart, not a full parser. */
export function describeAgent(ua = '') {
  const browser =
    [
      [/Edg\//, 'Edge'],
      [/OPR\//, 'Opera'],
      [/Firefox\//, 'Firefox'],
      [/HeadlessChrome\//, 'Headless Chrome'],
      [/Chrome\//, 'Chrome'],
      [/Safari\//, 'Safari'],
      [/curl\//, 'curl'],
    ].find(([re]) => re.test(ua))?.[1] ?? 'Unknown browser';
  const os =
    [
      [/Android/, 'Android'],
      [/iPhone|iPad|iPod/, 'iOS'],
      [/Windows/, 'Windows'],
      [/Mac OS X|Macintosh/, 'macOS'],
      [/CrOS/, 'ChromeOS'],
      [/Linux/, 'Linux'],
    ].find(([re]) => re.test(ua))?.[1] ?? 'unknown OS';
  return `${browser} on ${os}`;
}

/** The page frame: nav reflecting the login state, an optional notice, the body. */
export function layout({ title, user, admin, notice, error, body, refresh }) {
  const nav = user
    ? html`<a href="/">Home</a><a href="/devices">Your devices</a>${admin ? html`<a href="/admin">Admin</a>` : ''}
        <form method="post" action="/logout" class="inline"><button class="link">Log out</button></form>`
    : html`<a href="/">Home</a><a href="/login">Log in</a><a href="/register">Register</a>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · sessionkit demo</title>
${refresh ? html`<meta http-equiv="refresh" content="${refresh}">` : ''}
<link rel="stylesheet" href="/style.css">
</head>
<body>
<header><strong>sessionkit demo</strong><nav>${nav}</nav></header>
<main>
<h1>${title}</h1>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
${body}
</main>
</body>
</html>`.value;
}

export const CSS = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;background:#f5f6f8}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between;padding:.75rem 1rem;background:#1d2430;color:#fff}
nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem;align-items:center}
nav a,button.link{color:#cfe0ff;text-decoration:none;background:none;border:0;padding:0;font:inherit;cursor:pointer}
main{max-width:46rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
form.inline{display:inline}
label{display:block;margin:.75rem 0 .25rem;font-weight:600}
input{width:100%;max-width:24rem;padding:.6rem;font:inherit;border:1px solid #b8c0cc;border-radius:6px}
button{padding:.55rem 1rem;font:inherit;border-radius:6px;border:1px solid #2f5fd0;background:#2f5fd0;color:#fff;cursor:pointer}
button.danger{background:#fff;color:#b42318;border-color:#b42318}
.notice{padding:.6rem .8rem;background:#e7f6ec;border:1px solid #a6d8b5;border-radius:6px}
.error{padding:.6rem .8rem;background:#fdecea;border:1px solid #f1b0a8;border-radius:6px}
.counter{font-size:2.5rem;font-weight:700;margin:.25rem 0}
.cards{list-style:none;padding:0;display:grid;gap:.75rem}
.card{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:.8rem 1rem}
.card.current{border-color:#2f5fd0;box-shadow:0 0 0 1px #2f5fd0}
.card h2{font-size:1.05rem;margin:0 0 .25rem;display:flex;gap:.5rem;align-items:center;flex-wrap:wrap}
.badge{font-size:.75rem;background:#2f5fd0;color:#fff;border-radius:999px;padding:.1rem .55rem}
.meta{color:#5a6577;font-size:.9rem;margin:.1rem 0}
.ua{color:#5a6577;font-size:.8rem;word-break:break-all}
code{font-size:.85em;background:#eef1f5;padding:.1rem .3rem;border-radius:4px}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(10rem,1fr));gap:.75rem;padding:0;list-style:none}
.figure{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:.6rem .8rem}
.figure strong{display:block;font-size:1.6rem}
.figure.alert strong{color:#b42318}
.panel{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:.8rem 1rem;margin:1rem 0}
.panel h2{font-size:1.05rem;margin:0 0 .5rem}
.legend{display:flex;gap:1rem;font-size:.85rem;color:#5a6577}
.legend .logins::before,.legend .failed::before{content:"";display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-.1rem}
.legend .logins::before{background:#2f5fd0}
.legend .failed::before{background:#b42318}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:right;padding:.3rem .5rem;border-bottom:1px solid #eef1f5}
th:first-child,td:first-child{text-align:left}
`;
