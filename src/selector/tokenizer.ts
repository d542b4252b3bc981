/**
 * Tokenizer for Calico's selector language, with Calico's rules
 * (libcalico-go/lib/selector/tokenizer):
 * - whitespace is only ' ' and '\t';
 * - labels are runs of [A-Za-z0-9_./-], at most 512 characters;
 * - string literals are '"…"' or "'…'" with no escapes;
 * - `==`, `!=`, `&&`, `||` must be doubled; a lone `!` is negation;
 * - `has(`, `all(` and `global(` are recognised by prefix (no space before the parenthesis);
 * - operator words (`contains`, `starts with`, `ends with`, `not in`, `in`) are recognised only right
 *   after a label and must end at a word boundary; the two-word operators may have any run of
 *   whitespace, including none, between their words ("startswith", "notin").
 * Every token carries the index of its first character so the parser can report positions.
 */
import { SelectorError } from "./error.js";

// biome-ignore lint/suspicious/noConstEnum: tsc inlines the token kinds on the tokenizer's hot path; no bundler compiles this TypeScript
export const enum Tok {
  Label,
  String,
  LBrace,
  RBrace,
  Comma,
  Eq,
  Ne,
  In,
  Not,
  NotIn,
  Contains,
  StartsWith,
  EndsWith,
  All,
  Has,
  LParen,
  RParen,
  And,
  Or,
  Global,
  EOF,
}

export interface Token {
  kind: Tok;
  /** Label name, string literal contents or has() label; "" otherwise. */
  value: string;
  /** Index of the token's first character in the input. */
  pos: number;
}

export const MAX_LABEL_LENGTH = 512;

const C_SPACE = 0x20;
const C_TAB = 0x09;

/** True for the characters Calico allows in a label name. */
export function isLabelChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x5f || // _
    c === 0x2e || // .
    c === 0x2f || // /
    c === 0x2d // -
  );
}

/** True when `s` is a valid label name as Calico's tokenizer reads one. */
export function isValidLabel(s: string): boolean {
  if (s.length === 0 || s.length > MAX_LABEL_LENGTH) return false;
  for (let i = 0; i < s.length; i++) if (!isLabelChar(s.charCodeAt(i))) return false;
  return true;
}

function skipWs(input: string, i: number): number {
  while (i < input.length) {
    const c = input.charCodeAt(i);
    if (c !== C_SPACE && c !== C_TAB) break;
    i++;
  }
  return i;
}

function wordBoundary(input: string, i: number): boolean {
  return i >= input.length || !isLabelChar(input.charCodeAt(i));
}

/** If `input` has `word` at `i` followed by a word boundary, the index after it; else -1. */
function cutWord(input: string, i: number, word: string): number {
  if (!input.startsWith(word, i)) return -1;
  const end = i + word.length;
  return wordBoundary(input, end) ? end : -1;
}

/** Two words with optional whitespace between; boundary checked only after the second. */
function cutTwoWords(input: string, i: number, w1: string, w2: string): number {
  if (!input.startsWith(w1, i)) return -1;
  const j = skipWs(input, i + w1.length);
  if (!input.startsWith(w2, j)) return -1;
  // As Calico does: whitespace after the last word is skipped before the boundary check, so
  // "a not in x" is rejected here (whereas "a in x" tokenizes and fails in the parser).
  const end = j + w2.length;
  const after = skipWs(input, end);
  return wordBoundary(input, after) ? after : -1;
}

/** Reads a label at `i`; throws when there is none or it is too long. Returns the end index. */
function cutLabel(input: string, i: number): number {
  let j = i;
  while (j < input.length && isLabelChar(input.charCodeAt(j))) j++;
  if (j === i) {
    const ch = i < input.length ? describeChar(input, i) : "end of selector";
    throw new SelectorError(`expected a label name, found ${ch}`, input, i);
  }
  if (j - i > MAX_LABEL_LENGTH) {
    throw new SelectorError(`label too long (${j - i} characters, at most ${MAX_LABEL_LENGTH})`, input, i);
  }
  return j;
}

export function describeChar(input: string, i: number): string {
  const cp = input.codePointAt(i) ?? 0;
  if (cp < 0x20 || cp === 0x7f) return `character U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
  return `'${String.fromCodePoint(cp)}'`;
}

/** Splits `input` into tokens, ending with an EOF token; throws SelectorError. */
export function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = input.length;
  for (;;) {
    i = skipWs(input, i);
    if (i >= n) {
      tokens.push({ kind: Tok.EOF, value: "", pos: n });
      return tokens;
    }
    const start = i;
    const c = input.charCodeAt(i);
    const lastKind = tokens.length > 0 ? tokens[tokens.length - 1]!.kind : Tok.EOF;
    switch (c) {
      case 0x28: // (
        tokens.push({ kind: Tok.LParen, value: "", pos: start });
        i++;
        break;
      case 0x29: // )
        tokens.push({ kind: Tok.RParen, value: "", pos: start });
        i++;
        break;
      case 0x22: // "
      case 0x27: {
        // '
        const close = input.indexOf(c === 0x22 ? '"' : "'", i + 1);
        if (close < 0) {
          throw new SelectorError(`unterminated string: expected a closing ${c === 0x22 ? `'"'` : `"'"`}`, input, start);
        }
        tokens.push({ kind: Tok.String, value: input.slice(i + 1, close), pos: start });
        i = close + 1;
        break;
      }
      case 0x7b: // {
        tokens.push({ kind: Tok.LBrace, value: "", pos: start });
        i++;
        break;
      case 0x7d: // }
        tokens.push({ kind: Tok.RBrace, value: "", pos: start });
        i++;
        break;
      case 0x2c: // ,
        tokens.push({ kind: Tok.Comma, value: "", pos: start });
        i++;
        break;
      case 0x3d: // =
        if (input.charCodeAt(i + 1) !== 0x3d) throw new SelectorError("expected '=='", input, start);
        tokens.push({ kind: Tok.Eq, value: "", pos: start });
        i += 2;
        break;
      case 0x21: // !
        if (input.charCodeAt(i + 1) === 0x3d) {
          tokens.push({ kind: Tok.Ne, value: "", pos: start });
          i += 2;
        } else {
          tokens.push({ kind: Tok.Not, value: "", pos: start });
          i++;
        }
        break;
      case 0x26: // &
        if (input.charCodeAt(i + 1) !== 0x26) throw new SelectorError("expected '&&'", input, start);
        tokens.push({ kind: Tok.And, value: "", pos: start });
        i += 2;
        break;
      case 0x7c: // |
        if (input.charCodeAt(i + 1) !== 0x7c) throw new SelectorError("expected '||'", input, start);
        tokens.push({ kind: Tok.Or, value: "", pos: start });
        i += 2;
        break;
      default: {
        if (lastKind === Tok.Label) {
          // After a label only an operator word may follow.
          let j: number;
          if ((j = cutWord(input, i, "contains")) >= 0) {
            tokens.push({ kind: Tok.Contains, value: "", pos: start });
          } else if ((j = cutTwoWords(input, i, "starts", "with")) >= 0) {
            tokens.push({ kind: Tok.StartsWith, value: "", pos: start });
          } else if ((j = cutTwoWords(input, i, "ends", "with")) >= 0) {
            tokens.push({ kind: Tok.EndsWith, value: "", pos: start });
          } else if ((j = cutTwoWords(input, i, "not", "in")) >= 0) {
            tokens.push({ kind: Tok.NotIn, value: "", pos: start });
          } else if ((j = cutWord(input, i, "in")) >= 0) {
            tokens.push({ kind: Tok.In, value: "", pos: start });
          } else {
            throw new SelectorError(
              `expected an operator (==, !=, in, not in, contains, starts with, ends with) after label "${tokens[tokens.length - 1]!.value}"`,
              input,
              start,
            );
          }
          i = j;
        } else if (input.startsWith("has(", i)) {
          const ls = skipWs(input, i + 4);
          const le = cutLabel(input, ls);
          const close = skipWs(input, le);
          if (input.charCodeAt(close) !== 0x29) throw new SelectorError("expected ')' to close has(", input, close);
          tokens.push({ kind: Tok.Has, value: input.slice(ls, le), pos: start });
          i = close + 1;
        } else if (input.startsWith("all(", i) || input.startsWith("global(", i)) {
          const isAll = input.charCodeAt(i) === 0x61;
          const close = skipWs(input, i + (isAll ? 4 : 7));
          if (input.charCodeAt(close) !== 0x29) {
            throw new SelectorError(`expected ')' to close ${isAll ? "all(" : "global("}`, input, close);
          }
          tokens.push({ kind: isAll ? Tok.All : Tok.Global, value: "", pos: start });
          i = close + 1;
        } else if (isLabelChar(c)) {
          const end = cutLabel(input, i);
          tokens.push({ kind: Tok.Label, value: input.slice(i, end), pos: start });
          i = end;
        } else {
          throw new SelectorError(`unexpected ${describeChar(input, i)}: expected a label, has(), all(), global(), '!' or '('`, input, start);
        }
      }
    }
  }
}
