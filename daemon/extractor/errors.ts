import { UserError } from '../util/errors.js';

/**
 * A picture that cannot be decoded or is malformed (corrupt JPEG, wrong YUV size). It extends UserError
 * because a bad file in a spots folder is the user's to fix; the daemon catches it per frame, logs one
 * line and drops the frame, since a camera glitch must never stop recognition.
 */
export class BadImageError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BadImageError';
  }
}

/**
 * The model gave an unusable feature for one picture: non-finite numbers, or all zeros (a blank frame
 * with a model that has nothing to describe it). Per-picture, like BadImageError: drop and carry on.
 */
export class ModelOutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelOutputError';
  }
}
