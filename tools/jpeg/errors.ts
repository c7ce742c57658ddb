/**
 * A JPEG that cannot be decoded. The message says what is wrong with the
 * data, without the file's name (tools/image.ts adds that).
 */
export class JpegError extends Error {
  constructor(problem: string) {
    super(problem);
    this.name = 'JpegError';
  }
}

/** A JPEG coding process other than baseline/progressive Huffman (e.g. arithmetic, lossless). */
export class UnsupportedCodingError extends JpegError {
  constructor(process: string) {
    super(`${process} JPEGs are not supported`);
    this.name = 'UnsupportedCodingError';
  }
}
