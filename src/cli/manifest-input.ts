/**
 * Manifest input as bytes → text, for apply/create/replace/delete: input that is not text (a
 * NUL byte, or more than 1% control characters) is described by its size, never echoed back
 * ("<stdin>: 65536 bytes of binary data, not YAML or JSON"); text in another encoding is
 * described by where it stops being UTF-8 (RFC 3629). A UTF-8 byte-order mark is dropped.
 * Pure: no I/O.
 */
import { ManifestParseError } from "../model/errors.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function manifestText(bytes: Uint8Array, source: string): string {
  const binary = () => new ManifestParseError(`${bytes.length} bytes of binary data, not YAML or JSON`, { source }, { bytes: bytes.length });
  // control bytes are the same single bytes in every ASCII-based encoding: count them first
  let control = 0;
  for (const b of bytes) if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) || b === 0x7f) control++;
  if (bytes.includes(0) || (control > 0 && control * 100 > bytes.length)) throw binary();
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    // text in another encoding (Latin-1, say) rather than binary: say where it stops being UTF-8
    const good = validUtf8Prefix(bytes);
    const line = bytes.subarray(0, good).filter((b) => b === 0x0a).length + 1;
    throw new ManifestParseError(
      `${bytes.length} bytes that are not UTF-8 text (line ${line}, byte ${good + 1} of the input); save it as UTF-8`,
      { source },
      { bytes: bytes.length, offset: good },
    );
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Length of the longest prefix of `bytes` that is valid UTF-8 (RFC 3629's byte ranges). */
export function validUtf8Prefix(bytes: Uint8Array): number {
  const cont = (b: number | undefined, lo = 0x80, hi = 0xbf) => b !== undefined && b >= lo && b <= hi;
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let n = 0;
    if (b <= 0x7f) n = 1;
    else if (b >= 0xc2 && b <= 0xdf) n = cont(bytes[i + 1]) ? 2 : 0;
    else if (b === 0xe0) n = cont(bytes[i + 1], 0xa0) && cont(bytes[i + 2]) ? 3 : 0;
    else if ((b >= 0xe1 && b <= 0xec) || b === 0xee || b === 0xef) n = cont(bytes[i + 1]) && cont(bytes[i + 2]) ? 3 : 0;
    else if (b === 0xed) n = cont(bytes[i + 1], 0x80, 0x9f) && cont(bytes[i + 2]) ? 3 : 0;
    else if (b === 0xf0) n = cont(bytes[i + 1], 0x90) && cont(bytes[i + 2]) && cont(bytes[i + 3]) ? 4 : 0;
    else if (b >= 0xf1 && b <= 0xf3) n = cont(bytes[i + 1]) && cont(bytes[i + 2]) && cont(bytes[i + 3]) ? 4 : 0;
    else if (b === 0xf4) n = cont(bytes[i + 1], 0x80, 0x8f) && cont(bytes[i + 2]) && cont(bytes[i + 3]) ? 4 : 0;
    if (n === 0) return i;
    i += n;
  }
  return i;
}
