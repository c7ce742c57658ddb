import { it, expect } from 'vitest';
import { detectFaces, readImage } from '../index.js';

it('detectFaces takes a path or decoded pixels and gives the same faces', async () => {
  const path = new URL('../examples/multiface.jpg', import.meta.url).pathname;
  const fromPath = await detectFaces(path);
  const fromPixels = await detectFaces(await readImage(path));
  expect(fromPath.length).toBe(6);
  expect(fromPixels).toEqual(fromPath);
});
