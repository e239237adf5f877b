import ora, { type Ora } from 'ora';

/** A live status line for a long operation (see {@link statusLine}). */
export interface StatusLine {
  /** Whether anything is drawn (a terminal, no --json). */
  readonly live: boolean;
  /** Replaces the text (the elapsed time is added). */
  update(text: string): void;
  /** Draws a frame now: for callers that run synchronously for long (no timer fires meanwhile). */
  redraw(): void;
  /** Ends the line: a tick and `text` if given, else it is cleared. */
  done(text?: string): void;
  /** Ends the line with a cross and `text`. */
  fail(text: string): void;
}

/**
 * A spinner with a status text on stderr (ora), redrawn in place, for an operation that takes
 * seconds or more. Drawn only when stdout and stderr are terminals (of some width) and `--json`
 * was not given;
 * otherwise every call does nothing, so logs and pipes get no progress noise.
 */
export function statusLine(
  text: string,
  o: { json?: boolean | undefined } = {},
  streams: { out: NodeJS.WriteStream; err: NodeJS.WriteStream } = { out: process.stdout, err: process.stderr },
): StatusLine {
  // A terminal of no width (a pty nobody sized) cannot hold a line that is redrawn in place.
  const live = !o.json && streams.out.isTTY === true && streams.err.isTTY === true && (streams.err.columns ?? 0) > 0;
  if (!live)
    return { live, update: () => undefined, redraw: () => undefined, done: () => undefined, fail: () => undefined };
  const t0 = performance.now();
  const elapsed = (): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
  let current = text;
  const spinner: Ora = ora({ text: `${text}  ${elapsed()}`, stream: streams.err, discardStdin: false }).start();
  // The elapsed time moves even when the caller has nothing new to say.
  const tick = setInterval(() => (spinner.text = `${current}  ${elapsed()}`), 250);
  tick.unref();
  return {
    live,
    update(t) {
      current = t;
      spinner.text = `${t}  ${elapsed()}`;
    },
    redraw() {
      spinner.text = `${current}  ${elapsed()}`;
      spinner.render();
    },
    done(t) {
      clearInterval(tick);
      if (t === undefined) spinner.stop();
      else spinner.succeed(`${t}  ${elapsed()}`);
    },
    fail(t) {
      clearInterval(tick);
      spinner.fail(t);
    },
  };
}
