// Every test file gets an initialised engine and releases the device after,
// so worker processes exit.
import { beforeAll, afterAll } from 'vitest';
import { init, shutdown } from '../engine/runtime.js';

beforeAll(async () => {
  await init();
});

afterAll(async () => {
  await shutdown();
});
