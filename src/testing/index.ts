export {
  type AdapterHarness,
  runAdapterSuite,
  type SuiteApp,
  type SuiteOptions,
  type SuiteResponse,
  type SuiteRoute,
  type SuiteRouteInput,
} from './adapter-suite.js';
export { type ConformanceStore, record, runStoreConformance, type StoreHarness } from './conformance.js';
export { TcpProxy } from './proxy.js';
