/**
 * Manifest input as bytes → text, for apply/create/replace/delete: input that is not text (a
 * NUL byte, invalid UTF-8, or mostly control characters) is described by its size, never echoed
 * back ("<stdin>: 65536 bytes of binary data, not YAML or JSON"). A UTF-8 byte-order mark is
 * dropped. Pure: no I/O.
 */
import { ManifestParseError } from "../model/errors.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function manifestText(bytes: Uint8Array, source: string): string {
  const binary = () => new ManifestParseError(`${bytes.length} bytes of binary data, not YAML or JSON`, { source }, { bytes: bytes.length });
  if (bytes.includes(0)) throw binary();
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw binary();
  }
  let control = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) control++;
  }
  if (control > 0 && control * 100 > text.length) throw binary();
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
