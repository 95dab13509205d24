/** The framework benchmark's contenders (bench/frameworks.ts), each served by bench/framework-server.ts. */
export const FRAMEWORK_CONTENDERS = {
  'fastify-bare': 'bare Fastify',
  'fastify-session': '@fastify/session (its MemoryStore)',
  'fastify-sk': 'sessionkit/fastify + MemoryStore',
  'koa-bare': 'bare Koa',
  'koa-session': 'koa-session + an external Map store',
  'koa-sk': 'sessionkit/koa + MemoryStore',
  'hono-bare': 'bare Hono (@hono/node-server)',
  'hono-sk': 'sessionkit/hono + MemoryStore',
} as const;
export type FrameworkContender = keyof typeof FRAMEWORK_CONTENDERS;
