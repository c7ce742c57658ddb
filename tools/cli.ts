// The shared shape of a command: parse (bad options: exit 2), --help (exit 0),
// run (its own exit code; an unexpected error: exit 1), then release the GPU
// so the process can exit.
import { pathToFileURL } from 'node:url';
import { shutdown } from '../engine/runtime.js';

export async function runCommand<O>(argv: string[], parse: (argv: string[]) => O | 'help', help: string, run: (opts: O) => Promise<number>): Promise<never> {
  let opts: O | 'help';
  try {
    opts = parse(argv);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    process.exit(2);
  }
  if (opts === 'help') {
    console.log(help);
    process.exit(0);
  }
  let code = 1;
  try {
    code = await run(opts);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
  }
  await shutdown();
  process.exit(code);
}

/** True when the module is the script node was started with (not imported by a test). */
export function isMain(moduleUrl: string): boolean {
  return moduleUrl === pathToFileURL(process.argv[1] ?? '').href;
}

/**
 * Runs a command's main on the command line and exits with its code once
 * stdout is flushed (dawn.node can keep the process alive after the device is
 * destroyed).
 */
export async function runMain(main: (argv: string[]) => Promise<number>): Promise<void> {
  const code = await main(process.argv.slice(2));
  process.stdout.write('', () => process.exit(code));
}
