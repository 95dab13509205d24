import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { AggregationType, MeterProvider } from '@opentelemetry/sdk-metrics';
import { instrumentOpenTelemetry } from 'sessionkit/otel';
import { html } from './html.mjs';

/** Store calls here take well under a millisecond: finer buckets than the semantic conventions' defaults. */
const LATENCY_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];
const MINUTES = 15;
const SAMPLE_EVERY_MS = 5_000;

/**
 * OpenTelemetry for the demo: sessionkit's metrics into a MeterProvider whose one reader is the Prometheus
 * exporter. `/metrics` serves its text format; the admin page reads the same figures through `collect()`,
 * sampled every few seconds so it can draw rates.
 */
export async function setUpMetrics({ stores }) {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({
    readers: [exporter],
    views: [
      {
        instrumentName: 'db.client.operation.duration',
        aggregation: {
          type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM,
          options: { boundaries: LATENCY_BUCKETS },
        },
      },
    ],
  });
  const otel = await instrumentOpenTelemetry({ meterProvider: provider, stores });
  const samples = [];

  async function figures() {
    const { resourceMetrics } = await exporter.collect();
    const metrics = new Map();
    for (const scope of resourceMetrics.scopeMetrics)
      for (const metric of scope.metrics) metrics.set(metric.descriptor.name, metric.dataPoints);
    const total = (name, where = () => true) =>
      (metrics.get(name) ?? []).filter((p) => where(p.attributes)).reduce((sum, p) => sum + p.value, 0);
    const now = {
      t: Date.now(),
      logins: total('sessionkit.session.login'),
      forged: total('sessionkit.cookie.invalid'),
      unknown: total('sessionkit.cookie.unknown'),
    };
    samples.push(now);
    while (samples.length > 0 && samples[0].t < now.t - (MINUTES + 1) * 60_000) samples.shift();
    return {
      active: (metrics.get('sessionkit.session.active') ?? []).map((p) => ({
        store: p.attributes['sessionkit.store'],
        value: p.value,
      })),
      created: total('sessionkit.session.created'),
      logins: now.logins,
      logouts: total('sessionkit.session.logout'),
      revoked: total('sessionkit.session.revoked'),
      forged: now.forged,
      badSignature: total(
        'sessionkit.cookie.invalid',
        (a) => a['sessionkit.cookie.reason'] === 'bad-signature',
      ),
      unknown: now.unknown,
      timeouts: total('sessionkit.store.timeouts'),
      unavailable: total('sessionkit.store.unavailable'),
      latency: latencyTable(metrics.get('db.client.operation.duration') ?? []),
      perMinute: perMinute(samples, now.t),
    };
  }

  const timer = setInterval(() => figures().catch(() => undefined), SAMPLE_EVERY_MS);
  timer.unref();

  return {
    /** The Prometheus text format, for `GET /metrics`. */
    serve: (req, res) => exporter.getMetricsRequestHandler(req, res),
    figures,
    async close() {
      clearInterval(timer);
      otel.disable();
      await provider.shutdown();
    },
  };
}

/** p50/p95/p99 per operation, estimated from the histogram's buckets (linear within a bucket). */
function latencyTable(points) {
  const byOperation = new Map();
  for (const point of points) {
    const operation = point.attributes['db.operation.name'];
    const row = byOperation.get(operation) ?? {
      operation,
      calls: 0,
      errors: 0,
      counts: null,
      boundaries: null,
    };
    const { count, buckets, min, max } = point.value;
    row.calls += count;
    if (point.attributes['error.type'] !== undefined) row.errors += count;
    row.boundaries = buckets.boundaries;
    row.counts = row.counts ? row.counts.map((c, i) => c + buckets.counts[i]) : [...buckets.counts];
    row.min = Math.min(row.min ?? Number.POSITIVE_INFINITY, min ?? 0);
    row.max = Math.max(row.max ?? 0, max ?? 0);
    byOperation.set(operation, row);
  }
  return [...byOperation.values()]
    .sort((a, b) => b.calls - a.calls)
    .map((row) => ({
      operation: row.operation,
      calls: row.calls,
      errors: row.errors,
      p50: quantile(row, 0.5),
      p95: quantile(row, 0.95),
      p99: quantile(row, 0.99),
    }));
}

function quantile({ counts, boundaries, calls, min, max }, q) {
  if (!calls) return null;
  const target = q * calls;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] === 0) continue;
    if (seen + counts[i] >= target) {
      const lower = Math.max(i === 0 ? min : boundaries[i - 1], min);
      const upper = Math.min(i < boundaries.length ? boundaries[i] : max, max);
      return lower + (upper - lower) * ((target - seen) / counts[i]);
    }
    seen += counts[i];
  }
  return max;
}

/** Logins and failed cookies in each of the last minutes: differences of the sampled totals. */
function perMinute(samples, now) {
  const at = (t) => {
    let found = null;
    for (const sample of samples) if (sample.t <= t) found = sample;
    return found ?? { logins: 0, forged: 0, unknown: 0 };
  };
  const minutes = [];
  for (let i = MINUTES - 1; i >= 0; i--) {
    const end = now - i * 60_000;
    const from = at(end - 60_000);
    const to = at(end);
    minutes.push({
      minutesAgo: i,
      logins: to.logins - from.logins,
      failed: to.forged + to.unknown - (from.forged + from.unknown),
    });
  }
  return minutes;
}

export function formatSeconds(seconds) {
  if (seconds === null) return '–';
  if (seconds < 0.001) return `${Math.round(seconds * 1_000_000)} µs`;
  if (seconds < 1) return `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1)} ms`;
  return `${seconds.toFixed(2)} s`;
}

/** A bar chart of the last minutes in inline SVG (no script, nothing the page's CSP would block). */
export function minuteChart(minutes) {
  const width = 600;
  const height = 160;
  const top = 10;
  const bottom = 24;
  const peak = Math.max(1, ...minutes.flatMap((m) => [m.logins, m.failed]));
  const slot = width / minutes.length;
  const bar = (slot - 6) / 2;
  const scale = (value) => ((height - top - bottom) * value) / peak;
  const bars = minutes.map((m, i) => {
    const x = i * slot + 3;
    const base = height - bottom;
    return html`<g data-minutes-ago="${m.minutesAgo}">
      <rect class="logins" x="${x}" y="${base - scale(m.logins)}" width="${bar}" height="${scale(m.logins)}" fill="#2f5fd0"><title>${m.logins} logins</title></rect>
      <rect class="failed" x="${x + bar}" y="${base - scale(m.failed)}" width="${bar}" height="${scale(m.failed)}" fill="#b42318"><title>${m.failed} failed or forged cookies</title></rect>
      ${m.minutesAgo % 5 === 0 ? html`<text x="${x + bar}" y="${height - 6}" font-size="11" text-anchor="middle" fill="#5a6577">${m.minutesAgo === 0 ? 'now' : `−${m.minutesAgo} min`}</text>` : ''}
    </g>`;
  });
  return html`<svg id="chart" viewBox="0 0 ${width} ${height}" width="100%" role="img"
    aria-label="Logins and failed or forged cookies per minute, last ${minutes.length} minutes">
    <line x1="0" x2="${width}" y1="${height - bottom}" y2="${height - bottom}" stroke="#b8c0cc"/>
    <text x="4" y="${top + 4}" font-size="11" fill="#5a6577">peak ${peak}/min</text>
    ${bars}
  </svg>`;
}
