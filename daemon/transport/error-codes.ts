/**
 * The wire's error codes (docs/protocol.md, "Error", holds the same table; test/transport/error-codes.test.ts
 * compares them): what each means and what a device should do on receiving it. The recognizer sends only these;
 * the codec decodes a well-formed code it does not know (a newer recognizer's) as 'other', and the recognizer's
 * metrics label their outcomes with these codes and nothing else. The device (edge/edge-daemon.ts, `ask`) handles
 * every code alike today: a failed real query is built afresh and asked again in a later slot, up to
 * REAL_FRAME_ATTEMPTS times, which costs nothing on the wire (the slot would have carried a dummy).
 */
export const WIRE_ERROR_CODES = {
  'wrong-model': 'the request names another model: retrying cannot help; install the matching model or use a recognizer for it',
  'bad-request': 'the payload failed validation (the message says why; often a device and recognizer of different versions): retrying cannot help',
  busy: 'too many requests in flight at the recognizer: ask again later',
  internal: 'the recognizer failed to answer (no details leak): ask again; another recognizer of the group may answer',
  'too-large': 'the answer would exceed the wire limit: retrying as is cannot help; ask for fewer candidates or a smaller region',
  'unknown-region': "the recognizer serves no such region: retrying cannot help; read its regions from the announcement, or ask for all ('*')",
  other: 'a code this build does not know, from a newer recognizer (the message names it): treat it as internal',
} as const;

export type WireErrorCode = keyof typeof WIRE_ERROR_CODES;

/** Every code, in the table's order. */
export const WIRE_ERROR_CODE_LIST = Object.keys(WIRE_ERROR_CODES) as WireErrorCode[];

export function isWireErrorCode(x: unknown): x is WireErrorCode {
  return typeof x === 'string' && Object.hasOwn(WIRE_ERROR_CODES, x);
}
