export { type ConformanceStore, record, runStoreConformance, type StoreHarness } from './conformance.js';
export { TcpProxy } from './proxy.js';
