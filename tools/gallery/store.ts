// The face gallery's storage interface: people, their faces' embeddings, and
// which model made them. tools/gallery/sqlite.ts is the adapter used by the
// enroll / identify / gallery commands; the interface keeps the commands and
// the GPU search independent of the database.

/** The model a gallery's embeddings came from: embeddings of different models are not comparable. */
export interface GalleryModel {
  /** e.g. "facenet.safetensors sha256:0123abcd..." (see modelIdOf in tools/gallery/model-id.ts). */
  id: string;
  embeddingSize: number;
}

export interface Person {
  id: number;
  name: string;
  metadata: Record<string, unknown> | null;
  faces: number;
}

export interface FaceRow {
  /** Unit-length embedding of the gallery's embedding size. */
  embedding: Float32Array;
  /** The image it came from. */
  source: string | null;
  /** [x1, y1, x2, y2] in that image. */
  box: readonly number[] | null;
}

export interface GalleryMatrix {
  /** Face ids, one per row. */
  ids: Int32Array;
  /** The person's name of each row. */
  names: string[];
  /** [rows, embeddingSize] row-major. */
  matrix: Float32Array;
  embeddingSize: number;
}

export interface GalleryStore {
  readonly path: string;
  /** The model recorded in the gallery. */
  readonly model: GalleryModel;
  /** Creates the person when missing (metadata replaced when given); returns the id. */
  addPerson(name: string, metadata?: Record<string, unknown> | null): number;
  /** Adds faces to a person (created when missing), all or none: one transaction. Returns the new face ids. */
  addFaces(name: string, rows: readonly FaceRow[]): number[];
  listPeople(): Person[];
  /** Removes a person and their faces; false when there was none of that name. */
  removePerson(name: string): boolean;
  allEmbeddings(): GalleryMatrix;
  /** Every face with its person (export). */
  allFaces(): { name: string; metadata: Record<string, unknown> | null; face: FaceRow }[];
  close(): void;
}

/** Throws when `want` is not the gallery's model, naming both. */
export function checkGalleryModel(path: string, have: GalleryModel, want: GalleryModel): void {
  if (have.id !== want.id || have.embeddingSize !== want.embeddingSize) {
    throw new Error(
      `${path}: the gallery was made with model ${have.id} (${have.embeddingSize}-d embeddings), not ${want.id} (${want.embeddingSize}-d); ` +
        `embeddings of different models cannot be compared: use that model (--model) or another gallery (--gallery)`,
    );
  }
}

/**
 * The embedding scaled to unit length. The net's embeddings are meant to be
 * unit already, but the L2 normalisation's epsilon leaves tiny ones shorter
 * (a random 32-px test model gives norms of 0.9); the gallery's distances
 * (2 - 2 q.g) need exact unit rows, so enroll and identify renormalise.
 */
export function unitEmbedding(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const n = Math.sqrt(s);
  if (!(n > 0)) throw new Error('a face embedding is all zeros');
  return v.map((x) => x / n);
}
