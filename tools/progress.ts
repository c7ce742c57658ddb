// A one-line progress bar on stderr for long work (folders of photos,
// training epochs). Redraws at most every 100 ms; prints nothing when stderr
// is not a terminal except a final summary line, so logs stay clean.

export interface ProgressBar {
  /** Advances by `n` items and sets the text shown after the bar. */
  tick(n?: number, status?: string): void;
  done(status?: string): void;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function progressBar(total: number, label: string, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  const start = performance.now();
  const tty = stream.isTTY === true;
  let count = 0;
  let lastDraw = 0;
  let text = '';
  const draw = (final: boolean) => {
    const elapsed = (performance.now() - start) / 1000;
    const rate = count / Math.max(elapsed, 1e-9);
    const eta = total > count && rate > 0 ? (total - count) / rate : 0;
    const frac = total > 0 ? Math.min(1, count / total) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    const line = `${label} [${bar}] ${count}/${total} ${(100 * frac).toFixed(0)}% ${rate.toFixed(rate < 10 ? 2 : 0)}/s ${final ? formatSeconds(elapsed) : 'eta ' + formatSeconds(eta)}${text ? '  ' + text : ''}`;
    if (tty) stream.write(`\r\x1b[K${line}${final ? '\n' : ''}`);
    else if (final) stream.write(line + '\n');
  };
  return {
    tick(n = 1, status) {
      count += n;
      if (status !== undefined) text = status;
      const now = performance.now();
      if (tty && now - lastDraw > 100) {
        lastDraw = now;
        draw(false);
      }
    },
    done(status) {
      if (status !== undefined) text = status;
      draw(true);
    },
  };
}
