// Ctrl-C during training: the first SIGINT (or SIGTERM) asks the loop to
// stop after the current step, so it can save a checkpoint; a second one
// exits at once.
export class StopRequest {
  requested = false;

  private readonly onSignal = () => {
    if (this.requested) {
      process.stderr.write('\nsecond interrupt: exiting without saving\n');
      process.exit(130);
    }
    this.requested = true;
    process.stderr.write('\ninterrupt: stopping after this step and saving a checkpoint (Ctrl-C again to quit at once)\n');
  };

  constructor(private readonly signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM']) {
    for (const s of signals) process.on(s, this.onSignal);
  }

  dispose(): void {
    for (const s of this.signals) process.off(s, this.onSignal);
  }
}
