// The shared store conformance suite lives in src/testing so third-party stores can run it as
// `sessionkit/testing`; each test/stores/<store>.test.ts only wires a store into it.
export * from '../../src/testing/index.js';
