import cliProgress from 'cli-progress';

/** Progress on stderr, so stdout stays clean for tables and `--json`. A no-op when not shown. */
export interface Progress {
  /** Counts `n` more items done; `total` may be unknown (`null`). */
  advance(n: number): void;
  stop(): void;
}

const silent: Progress = { advance() {}, stop() {} };

/** Shown only on an interactive terminal, and never with `--no-progress`. */
export function progressEnabled(wanted: boolean): boolean {
  return wanted && process.stderr.isTTY === true;
}

/**
 * Whether a bar may be drawn while a command prints rows as it goes: not when stdout is that terminal too,
 * where every row would land inside the bar's line (and the rows coming show the progress there anyway).
 */
export function progressBesideOutput(enabled: boolean): boolean {
  return enabled && process.stdout.isTTY !== true;
}

/** A bar when the total is known, else a running count: listings page through, so progress is real. */
export function counter(enabled: boolean, label: string, total: number | null): Progress {
  if (!enabled) return silent;
  const format =
    total === null
      ? `${label} {value} sessions {duration_formatted}`
      : `${label} [{bar}] {value}/{total} sessions {duration_formatted}`;
  const bar = new cliProgress.SingleBar(
    { format, stream: process.stderr, clearOnComplete: true, hideCursor: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total ?? 0, 0);
  let done = 0;
  return {
    advance(n) {
      done += n;
      // A store may gain sessions while we page; never show more than 100 %.
      if (total !== null && done > total) bar.setTotal(done);
      bar.update(done);
    },
    stop() {
      bar.stop();
    },
  };
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * For one long store call whose progress cannot be observed (prune is a single statement): a spinner
 * with elapsed time, which is honest, rather than a bar that would pretend to know.
 */
export function spinner(enabled: boolean, label: string): Progress {
  if (!enabled) return silent;
  const bar = new cliProgress.SingleBar({
    format: `{spin} ${label} {duration_formatted}`,
    stream: process.stderr,
    clearOnComplete: true,
    hideCursor: true,
  });
  let frame = 0;
  bar.start(1, 0, { spin: FRAMES[0] });
  const timer = setInterval(() => {
    frame = (frame + 1) % FRAMES.length;
    bar.update(0, { spin: FRAMES[frame] });
  }, 80);
  return {
    advance() {},
    stop() {
      clearInterval(timer);
      bar.stop();
    },
  };
}
