import { runAdapterSuite } from '../../src/testing/index.js';
import { expressHarnesses, fastifyHarness, honoHarness, koaHarness } from './harnesses.js';

for (const harness of expressHarnesses) runAdapterSuite(harness);
runAdapterSuite(fastifyHarness('Fastify 5', () => import('fastify')));
runAdapterSuite(fastifyHarness('Fastify 4', () => import('fastify4')));
runAdapterSuite(koaHarness('Koa 3', () => import('koa')));
runAdapterSuite(koaHarness('Koa 2', () => import('koa2')));
runAdapterSuite(honoHarness);
