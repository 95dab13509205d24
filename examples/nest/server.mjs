// sessionkit on NestJS (Express platform): `npm run example:nest`, then http://localhost:3000
// Plain JavaScript, so the decorators are applied as functions; in TypeScript write @Controller() etc.
import 'reflect-metadata';
import { Controller, Get, Module, Post, Redirect, Req } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import session, { login, logout } from 'sessionkit';
import { exampleOptions, page, port, userFrom } from '../shared/page.mjs';

class VisitController {
  home(req) {
    req.session.views = (req.session.views ?? 0) + 1;
    return page('NestJS', req.session);
  }

  async login(req) {
    await login(req.session, userFrom(new URLSearchParams(req.body)));
  }

  async logout(req) {
    await logout(req.session);
  }
}
Controller()(VisitController);
const routes = [
  ['home', Get('/')],
  ['login', Post('/login'), Redirect('/', 303)],
  ['logout', Post('/logout'), Redirect('/', 303)],
];
for (const [name, ...decorators] of routes) {
  const proto = VisitController.prototype;
  Req()(proto, name, 0);
  for (const decorate of decorators) decorate(proto, name, Object.getOwnPropertyDescriptor(proto, name));
}

class AppModule {}
Module({ controllers: [VisitController] })(AppModule);

const app = await NestFactory.create(AppModule, { logger: ['error'] });
app.use(session(await exampleOptions()));
await app.listen(port, process.env.HOST ?? '127.0.0.1');
console.log(`sessionkit on NestJS: http://localhost:${port}`);
