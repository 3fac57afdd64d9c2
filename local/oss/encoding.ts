/**
 * Byte-level helpers for signature checks. OSS signs bytes, not JavaScript strings: header values go into the
 * string to sign exactly as they arrived, and keys as their UTF-8 bytes.
 *
 * Node decodes header values as latin1, one character per byte, so a header string already is a "byte string".
 * The signers build their strings to sign in that form and hash `Buffer.from(text, 'latin1')`.
 */

/** Decodes `%XX` escapes of a raw URL component into bytes. Other characters are taken as single bytes. */
export function percentDecode(raw: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const char = raw.charCodeAt(i);
    if (char === 0x25 /* % */ && /^[0-9a-fA-F]{2}$/.test(raw.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(raw.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(char & 0xff);
    }
  }
  return Buffer.from(bytes);
}

const UNRESERVED = /[A-Za-z0-9\-_.~]/;

/**
 * Percent-encodes bytes as RFC 3986 requires for V4 signatures: unreserved characters stay, everything else
 * becomes `%XX` with upper-case hex. With `keepSlash`, `/` stays as well (the canonical URI keeps it).
 */
export function encodeRfc3986(bytes: Uint8Array, keepSlash = false): string {
  let encoded = '';
  for (const byte of bytes) {
    const char = String.fromCharCode(byte);
    if (byte < 0x80 && (UNRESERVED.test(char) || (keepSlash && char === '/'))) {
      encoded += char;
    } else {
      encoded += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return encoded;
}

/** Returns the byte string (one character per byte) of `bytes`. */
export function toByteString(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1');
}

/** Returns the byte string of the UTF-8 encoding of `text`. */
export function utf8ByteString(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** Decodes a byte string as UTF-8, for showing it in messages. */
export function byteStringToUtf8(byteString: string): string {
  return Buffer.from(byteString, 'latin1').toString('utf8');
}

/** Formats bytes as OSS's StringToSignBytes element does: upper-case hex pairs, each followed by a space. */
export function hexBytes(byteString: string): string {
  return Array.from(Buffer.from(byteString, 'latin1'), (byte) => `${byte.toString(16).toUpperCase().padStart(2, '0')} `).join('');
}
