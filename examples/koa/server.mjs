// sessionkit on Koa: `npm run example:koa`, then http://localhost:3000
import Koa from 'koa';
import { login, logout } from 'sessionkit';
import { session } from 'sessionkit/koa';
import { exampleOptions, page, port, userFrom } from '../shared/page.mjs';

async function body(ctx) {
  let text = '';
  for await (const chunk of ctx.req) text += chunk;
  return text;
}

const app = new Koa();
app.proxy = true;
app.use(session(await exampleOptions()));
app.use(async (ctx) => {
  if (ctx.method === 'POST' && ctx.path === '/login') {
    await login(ctx.session, userFrom(await body(ctx)));
    ctx.status = 303;
    ctx.redirect('/');
  } else if (ctx.method === 'POST' && ctx.path === '/logout') {
    await logout(ctx.session);
    ctx.status = 303;
    ctx.redirect('/');
  } else if (ctx.path === '/') {
    ctx.session.views = (ctx.session.views ?? 0) + 1;
    ctx.type = 'html';
    ctx.body = page('Koa', ctx.session);
  }
});

app.listen(port, process.env.HOST ?? '127.0.0.1', () =>
  console.log(`sessionkit on Koa: http://localhost:${port}`),
);
