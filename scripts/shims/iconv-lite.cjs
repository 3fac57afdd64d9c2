// Bundled in place of iconv-lite (480 KiB of encoding tables). urllib, under ali-oss, needs it only to decode
// a response whose charset Buffer does not know, which OSS's UTF-8 XML never is; Node's built-in TextDecoder
// decodes the WHATWG encodings (GBK, GB18030, Big5, Shift_JIS, ...) for that case.
exports.decode = (buffer, charset) => new TextDecoder(charset).decode(buffer);
exports.encodingExists = (charset) => {
  try {
    new TextDecoder(charset);
    return true;
  } catch {
    return false;
  }
};
