// Turns SQLite errors into AppErrors with the codes the rest of the service acts on: a page that
// fails its MAC (SQLite3MultipleCiphers) or a malformed b-tree is Corrupt, a locked or failing
// disk is Unavailable (retry); anything else is passed through unchanged.
import { AppError, ErrorCode } from '../errors/index.js';

interface SqliteLikeError {
  code: string;
  message: string;
}

function hasCode(err: unknown): err is SqliteLikeError {
  if (!(err instanceof Error)) return false;
  const code: unknown = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_');
}

/** True when `err` comes from SQLite with exactly `code` or an extended code of it. */
export function isSqliteError(err: unknown, code?: string): boolean {
  if (!hasCode(err)) return false;
  return code === undefined || err.code === code || err.code.startsWith(`${code}_`);
}

/**
 * AppError for the SQLite failures callers must tell apart; other errors are returned as they are
 * (rethrow the result). `context` names the operation in the message, never data.
 */
export function mapSqliteError(err: unknown, context: string): unknown {
  if (err instanceof AppError || !hasCode(err)) return err;
  const base = err.code.replace(/^(SQLITE_[A-Z]+).*$/, '$1');
  switch (base) {
    case 'SQLITE_CORRUPT':
    case 'SQLITE_NOTADB':
      return new AppError(
        ErrorCode.Corrupt,
        `${context}: encrypted database failed its integrity check (${err.code})`,
        { cause: err },
      );
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
    case 'SQLITE_IOERR':
    case 'SQLITE_FULL':
    case 'SQLITE_CANTOPEN':
    case 'SQLITE_PROTOCOL':
      return new AppError(ErrorCode.Unavailable, `${context}: storage unavailable (${err.code})`, {
        cause: err,
      });
    default:
      return err;
  }
}
