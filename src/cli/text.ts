// Text in is text out on the command line (issue 18, part 4): bytes piped to `send` go as
// `text/plain; charset=utf-8` when they are UTF-8 text, and `listen` prints text content as text.
// Checked with a fatal decoder (WHATWG Encoding), so a lossy replacement never stands in for bytes.

export const TEXT_PLAIN = 'text/plain; charset=utf-8';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The bytes as a string when they are valid UTF-8 without NUL (binary data often decodes too). */
export function asText(data: Uint8Array): string | undefined {
  if (data.includes(0)) return undefined;
  try {
    return decoder.decode(data);
  } catch {
    return undefined;
  }
}

/** The content type for bytes from standard input when none was given: text, else opaque bytes. */
export function guessContentType(data: Uint8Array): string {
  return asText(data) === undefined ? 'application/octet-stream' : TEXT_PLAIN;
}

/** What `listen` prints for a message: its text when the content type is text and it decodes. */
export function printableText(contentType: string, data: Uint8Array): string | undefined {
  return /^text\//i.test(contentType) ? asText(data) : undefined;
}
