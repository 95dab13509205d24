import { describe, expect, it, vi } from 'vitest';

// As if the optional peer were not installed: importing it fails.
vi.mock('@opentelemetry/api', () => {
  throw Object.assign(new Error("Cannot find package '@opentelemetry/api'"), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
});

describe('sessionkit/otel without @opentelemetry/api', () => {
  it('resolves to a disabled instrumentation instead of failing', async () => {
    const { instrumentOpenTelemetry } = await import('../../src/otel.js');
    const otel = await instrumentOpenTelemetry();
    expect(otel.enabled).toBe(false);
    expect(() => otel.disable()).not.toThrow();
  });
});
