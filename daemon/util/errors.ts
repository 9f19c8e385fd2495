/**
 * An error a user can cause and fix (bad config, missing model, broker unreachable, camera missing).
 * The CLI prints only its message — one sentence naming what is wrong and how to fix it — never a stack.
 */
export class UserError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UserError';
  }
}
