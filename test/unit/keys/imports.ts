// One import point for the tests: the public surface of src/keys plus the error type.
export * from '../../../src/keys/index.js';
export { AppError, ErrorCode } from '../../../src/errors/index.js';
