// A small command-line parser for the training and evaluation tools:
// `--name value`, `--name=value` and boolean `--flag`, checked against a
// declared list so that a typo is an error rather than a silently ignored
// option.

export type OptionKind = 'string' | 'number' | 'int' | 'boolean';

export interface OptionSpec {
  kind: OptionKind;
  /** Shown in --help; `default` is shown too when given. */
  help: string;
  default?: string | number | boolean;
  /** Placeholder in --help, e.g. DIR; default the kind in capitals. */
  value?: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

/** The parsed values: numbers as numbers, flags as booleans, absent options without a default as undefined. */
export type ParsedOptions = Record<string, string | number | boolean | undefined>;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseArgs(argv: readonly string[], specs: OptionSpecs): ParsedOptions {
  const out: ParsedOptions = {};
  for (const [name, spec] of Object.entries(specs)) out[name] = spec.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}" (options start with --)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq >= 0 ? eq : undefined);
    const spec = specs[name];
    if (!spec) throw new UsageError(`unknown option --${name}`);
    if (spec.kind === 'boolean') {
      if (eq >= 0) {
        const v = arg.slice(eq + 1);
        if (v !== 'true' && v !== 'false') throw new UsageError(`--${name} takes no value (or =true / =false), got "${v}"`);
        out[name] = v === 'true';
      } else out[name] = true;
      continue;
    }
    let text: string;
    if (eq >= 0) text = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      text = argv[++i];
    }
    if (spec.kind === 'string') out[name] = text;
    else {
      const v = Number(text);
      if (text.trim() === '' || !Number.isFinite(v)) throw new UsageError(`--${name} must be a number, got "${text}"`);
      if (spec.kind === 'int' && !Number.isInteger(v)) throw new UsageError(`--${name} must be an integer, got "${text}"`);
      out[name] = v;
    }
  }
  return out;
}

/** The options block of a --help text. */
export function formatOptions(specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const head = s.kind === 'boolean' ? `--${name}` : `--${name} ${s.value ?? s.kind.toUpperCase()}`;
    const def = s.default !== undefined && s.kind !== 'boolean' ? ` (default ${s.default})` : '';
    return [head, s.help + def] as const;
  });
  const width = Math.max(...rows.map(([h]) => h.length)) + 2;
  return rows.map(([h, text]) => `  ${h.padEnd(width)}${text}`).join('\n');
}

/**
 * The start of a training command's main: the parsed options, or the exit
 * code when there is nothing more to do (a usage error, with the usage, on
 * stderr: 2; --help on stdout: 0).
 */
export function parseCommandArgs(argv: readonly string[], specs: OptionSpecs, usage: string): ParsedOptions | number {
  let a: ParsedOptions;
  try {
    a = parseArgs(argv, specs);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${usage}\n`);
    return 2;
  }
  if (a.help) {
    process.stdout.write(usage + '\n');
    return 0;
  }
  return a;
}
