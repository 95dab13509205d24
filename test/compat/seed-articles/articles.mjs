/**
 * The code of the five express-session tutorials this project grew from, kept as the JavaScript they
 * are so that nothing a TypeScript port would add (types, narrowing) changes what runs. Each article becomes a function of
 * what the article requires: `session` is the middleware function of either implementation, `store`
 * the article's store (undefined for the default MemoryStore), `express` the Express major to build on.
 * Where an article leaves something out (a model, a view engine, files on disk), a stand-in says so.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs';
import path from 'node:path';
import bodyParser from 'body-parser';
import cookieParser from 'cookie-parser';
import cors from 'cors';
import express5 from 'express';
import express4 from 'express4';

const __dirname = import.meta.dirname;
const md5 = (s) => createHash('md5').update(String(s)).digest('hex');

/** 000: express 框架中操作 Session — set / read / remove. */
export function article000(session, store, express = express5) {
  const app = express();
  app.use(
    session({
      name: 'mysession',
      secret: 'a@#flwengFD',
      saveUninitialized: false,
      resave: true,
      cookie: { maxAge: 1000 * 60, httpOnly: true },
      ...(store ? { store } : {}),
    }),
  );
  app.get('/setSession', (req, res) => {
    req.session.myname = 'aaa';
    req.session.myinfo = '这是session中的内容';
    res.send('hello');
  });
  app.get('/removeSession', (req, res) => {
    req.session.destroy(() => {});
    res.send('删除session成功');
  });
  app.get('/readSession', (req, res) => {
    const myname = req.session.myname;
    const myinfo = req.session.myinfo;
    res.send(`读取session成功 : ${myname} - ${myinfo}`);
  });
  return app;
}

/** 001: register / login / home / logout on connect-mongo. */
export function article001(session, store, express = express5) {
  // Stand-in for the article's mongoose UserModel, with the same callback API.
  const users = [];
  const UserModel = {
    create(doc, cb) {
      setImmediate(() => {
        users.push(doc);
        cb(null, doc);
      });
    },
    findOne(q, cb) {
      setImmediate(() =>
        cb(null, users.find((u) => u.username === q.username && u.password === q.password) ?? null),
      );
    },
  };
  const app = express();
  // Stand-in for the article's unnamed template engine: `{{name}}` filled from the render options.
  app.engine('tpl', (file, options, cb) => {
    readFile(file, 'utf8', (err, text) => {
      if (err) cb(err);
      else
        cb(
          null,
          text.replace(/{{(\w+)}}/g, (_m, name) => options[name]),
        );
    });
  });
  app.set('views', path.join(__dirname, 'views'));
  app.set('view engine', 'tpl');
  // Not in the article, which reads req.body in GET /login without a body parser: the form's fields.
  app.use(express.urlencoded({ extended: false }));
  app.use((req, _res, next) => {
    if (req.method === 'GET' && req.path === '/login') req.body = req.query;
    next();
  });
  app.use(
    session({
      name: 'sid',
      secret: 'atguigu',
      saveUninitialized: false,
      resave: true,
      store,
      cookie: { httpOnly: true, maxAge: 1000 * 300 },
    }),
  );
  app.post('/reg', (req, res) => {
    UserModel.create({ ...req.body, passsword: md5(req.body.password) }, (err, _data) => {
      if (err) {
        res.status(500).send('注册失败，请稍后再试~');
        return;
      }
      res.render('success', { msg: '注册成功', url: '/login' });
    });
  });
  app.get('/login', (req, res) => {
    const { username, password } = req.body;
    UserModel.findOne({ username: username, password: md5(password) }, (err, _data) => {
      if (err) {
        res.send('登录失败');
        return;
      }
      req.session.username = 'zhangsan';
      req.session.email = 'zhangsan@qq.com';
      res.render('success', { msg: '登录成功', url: '/account' });
    });
  });
  app.get('/home', (req, res) => {
    if (req.session.username) res.send(`你好 ${req.session.username}`);
    else res.send('登录 注册');
  });
  app.get('/logout', (req, res) => {
    req.session.destroy(() => {
      res.send('成功退出');
    });
  });
  app.get('/', (_req, res) => {
    res.redirect('/account');
  });
  return app;
}

/**
 * 002: JSON login (appUsers), logout with error handling, trust proxy, static + `*` catch-all, on the
 * Express 4 it was written for. The article's production branch, with the given store in place of its
 * RedisStore; the built front end is in public/, as the repository ignores folders named dist/.
 */
export function article002(session, store, express = express4) {
  const app = express();
  const routes = express.Router();
  const appUsers = { 'a@b.c': { email: 'a@b.c', name: 'A', password: 'pw' } };
  routes.post('/login', (req, res) => {
    const user = appUsers[req.body.email];
    if (user && user.password === req.body.password) {
      const userWithoutPassword = { ...user };
      delete userWithoutPassword.password;
      req.session.user = userWithoutPassword;
      res.status(200).send({ user: userWithoutPassword });
    } else {
      res.status(403).send({ errorMessage: 'Permission denied!' });
    }
  });
  routes.get('/logout', (req, res) => {
    req.session.destroy((err) => {
      if (err) res.status(500).send('Could not log out.');
      else res.status(200).send({});
    });
  });
  routes.get('/me', (req, res) => res.send({ user: req.session.user ?? null }));
  app.enable('trust proxy');
  app.use(bodyParser.json());
  const sessionConfig = { secret: 'Shh, its a secret!', resave: false, saveUninitialized: true };
  if (store) sessionConfig.store = store;
  app.use(session(sessionConfig));
  app.use('/', routes);
  app.use('/', express.static(path.join(__dirname, '/static')));
  app.use('/', express.static(path.join(__dirname, 'public')));
  app.get('*', (_req, res) => {
    res.sendFile(`${__dirname}/public/index.html`);
  });
  return app;
}

/** 003: cookie-parser + view counter (res.write / res.end), in its three variants (memory, redis, mongo). */
export function article003(session, store, variant, express = express5) {
  const app = express();
  app.use(cookieParser());
  const hour = 1000 * 60 * 60;
  const sessionOpts = {
    secret: 'a cool secret',
    resave: true,
    saveUninitialized: true,
    key: variant === 'mongo' ? 'mongo_sid' : 'myapp_sid',
    cookie: { maxAge: hour * (variant === 'memory' ? 2 : 8), secure: false },
  };
  if (store) sessionOpts.store = store;
  app.use(session(sessionOpts));
  app.use((req, res, _next) => {
    if (req.url === '/favicon.ico') return;
    const sess = req.session;
    if (variant === 'memory') {
      if (sess.views) sess.views++;
      else sess.views = 1;
      res.setHeader('Content-Type', 'text/html');
      res.write(`<p>views: ${sess.views}</p>`);
      res.end();
    } else if (variant === 'redis') {
      if (sess.views) {
        sess.views++;
        res.setHeader('Content-Type', 'text/html');
        res.write(`<p>views: ${sess.views}</p>`);
        res.write(`<p>expires in: ${sess.cookie.maxAge / 1000}s</p>`);
        res.end();
      } else {
        sess.views = 1;
        res.end('welcome to the session demo. refresh!');
      }
    } else {
      if (sess.views) sess.views++;
      else sess.views = 1;
      res.setHeader('Content-Type', 'text/html');
      res.write(`<p>views: ${sess.views}</p>`);
      res.write(`<p>expires in: ${sess.cookie.maxAge / 1000}s</p>`);
      res.write(`<p>httpOnly: ${sess.cookie.httpOnly}</p>`);
      res.write(`<p>path: ${sess.cookie.path}</p>`);
      res.write(`<p>secure: ${sess.cookie.secure}</p>`);
      res.end();
    }
  });
  return app;
}

/**
 * 004 (its code is elided in the seed; the usual shape of what it describes): express-mysql-session,
 * a views page, and cors with credentials for another origin. `order` puts cors before or after session.
 */
export function article004(session, store, order, express = express5) {
  const app = express();
  const corsMw = cors({ origin: 'http://app.example.test', credentials: true });
  const sess = session({
    key: 'session_cookie_name',
    secret: 'session_cookie_secret',
    store,
    resave: false,
    saveUninitialized: order === 'session-first-uninit',
  });
  if (order === 'cors-first') app.use(corsMw, sess);
  else app.use(sess, corsMw);
  app.use(express.json());
  app.get('/', (req, res) => {
    if (req.session.views) req.session.views++;
    else req.session.views = 1;
    res.send(`Views: ${req.session.views}`);
  });
  app.post('/api/login', (req, res) => {
    req.session.user = { name: req.body.name };
    res.json({ ok: true });
  });
  app.get('/api/data', (req, res) => {
    res.json({ user: req.session.user ?? null });
  });
  app.post('/api/logout', (req, res, next) => {
    req.session.destroy((err) => (err ? next(err) : res.json({ ok: true })));
  });
  return app;
}
