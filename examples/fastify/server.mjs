// sessionkit on Fastify: `npm run example:fastify`, then http://localhost:3000
import Fastify from 'fastify';
import { login, logout } from 'sessionkit';
import { session } from 'sessionkit/fastify';
import { exampleOptions, page, port, userFrom } from '../shared/page.mjs';

const app = Fastify({ trustProxy: true });
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
  done(null, body),
);
await app.register(session, await exampleOptions());

app.get('/', async (request, reply) => {
  request.session.views = (request.session.views ?? 0) + 1;
  return reply.type('text/html').send(page('Fastify', request.session));
});
app.post('/login', async (request, reply) => {
  await login(request.session, userFrom(request.body));
  return reply.redirect('/', 303);
});
app.post('/logout', async (request, reply) => {
  await logout(request.session);
  return reply.redirect('/', 303);
});

await app.listen({ port, host: process.env.HOST ?? '127.0.0.1' });
console.log(`sessionkit on Fastify: http://localhost:${port}`);
