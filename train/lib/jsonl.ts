// Training logs as JSON lines: one object per line, appended, so a log can be
// followed while it grows (`tail -f`) and a run that dies mid-write loses at
// most its last line.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';

export class JsonlLog {
  constructor(readonly path: string) {}

  /** Appends one record (synchronously: log lines are small and must not reorder). */
  write(record: Record<string, unknown>): void {
    appendFileSync(this.path, JSON.stringify(record) + '\n');
  }

  /** Every complete record so far; a torn last line (a crash mid-write) is skipped. */
  read(): Record<string, unknown>[] {
    if (!existsSync(this.path)) return [];
    const out: Record<string, unknown>[] = [];
    for (const line of readFileSync(this.path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line));
      } catch {
        /* a torn line */
      }
    }
    return out;
  }
}
