/**
 * Coefficients are coded in zigzag order (along anti-diagonals of the 8x8
 * block, starting at the top-left); ZIGZAG_TO_NATURAL[k] is the row-major
 * index of the k-th coded coefficient.
 *
 * 16 extra entries point at the last coefficient, as in libjpeg: a corrupt
 * run length can step past position 63, and libjpeg then writes to
 * coefficient 63 rather than failing, so we do the same.
 */
export const ZIGZAG_TO_NATURAL: Uint8Array = (() => {
  const order = new Uint8Array(64 + 16).fill(63);
  let k = 0;
  for (let diagonal = 0; diagonal < 15; diagonal++) {
    // Even diagonals run bottom-left to top-right, odd ones the other way.
    const rows: number[] = [];
    for (let row = Math.max(0, diagonal - 7); row <= Math.min(diagonal, 7); row++) rows.push(row);
    if (diagonal % 2 === 0) rows.reverse();
    for (const row of rows) order[k++] = row * 8 + (diagonal - row);
  }
  return order;
})();
