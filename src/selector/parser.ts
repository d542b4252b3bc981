/**
 * Recursive-descent parser for Calico's selector language
 * (libcalico-go/lib/selector/parser/parser.go):
 *
 *   selector := <empty> (= all()) | or EOF
 *   or       := and ( "||" and )*
 *   and      := unary ( "&&" unary )*
 *   unary    := "!"* primary            (an odd number of "!" wraps the primary in one NOT)
 *   primary  := has(label) | all() | global() | "(" or ")"
 *             | label (== | != | contains | starts with | ends with) string
 *             | label (in | not in) "{" [ string ( "," string )* [","] ] "}"
 *
 * As in Calico, the whole input is tokenized before parsing (so a lexical error anywhere wins),
 * a single operand is not wrapped in an AND/OR node, and a trailing comma in a set is accepted.
 */
import type { SelectorNode } from "./ast.js";
import { toSortedSet } from "./ast.js";
import { SelectorError } from "./error.js";
import { Tok, tokenize, type Token } from "./tokenizer.js";

/**
 * Nesting limit for parentheses. Calico has none (Go stacks grow); we bound it so that parsing,
 * printing and compiling never overflow the JavaScript stack. No real selector comes close.
 */
export const MAX_NESTING = 256;

const PRIMARY_EXPECTED = "a label, has(), all(), global(), '!' or '('";

function describe(t: Token): string {
  switch (t.kind) {
    case Tok.Label:
      return `label "${t.value}"`;
    case Tok.String:
      return "string literal";
    case Tok.LBrace:
      return "'{'";
    case Tok.RBrace:
      return "'}'";
    case Tok.Comma:
      return "','";
    case Tok.Eq:
      return "'=='";
    case Tok.Ne:
      return "'!='";
    case Tok.In:
      return "'in'";
    case Tok.Not:
      return "'!'";
    case Tok.NotIn:
      return "'not in'";
    case Tok.Contains:
      return "'contains'";
    case Tok.StartsWith:
      return "'starts with'";
    case Tok.EndsWith:
      return "'ends with'";
    case Tok.All:
      return "all()";
    case Tok.Has:
      return "has()";
    case Tok.LParen:
      return "'('";
    case Tok.RParen:
      return "')'";
    case Tok.And:
      return "'&&'";
    case Tok.Or:
      return "'||'";
    case Tok.Global:
      return "global()";
    case Tok.EOF:
      return "end of selector";
  }
}

class Parser {
  private i = 0;
  private depth = 0;
  constructor(
    private readonly input: string,
    private readonly toks: Token[],
  ) {}

  private peek(): Token {
    // The token list always ends with EOF and the parser never moves past it.
    return this.toks[this.i]!;
  }

  private fail(expected: string, t: Token = this.peek()): never {
    throw new SelectorError(`expected ${expected}, found ${describe(t)}`, this.input, t.pos);
  }

  parseRoot(): SelectorNode {
    if (this.peek().kind === Tok.EOF) return { op: "all" };
    const node = this.parseOr();
    if (this.peek().kind !== Tok.EOF) this.fail("'&&', '||' or end of selector");
    return node;
  }

  private parseOr(): SelectorNode {
    const first = this.parseAnd();
    if (this.peek().kind !== Tok.Or) return first;
    const operands = [first];
    while (this.peek().kind === Tok.Or) {
      this.i++;
      operands.push(this.parseAnd());
    }
    return { op: "||", operands };
  }

  private parseAnd(): SelectorNode {
    const first = this.parseUnary();
    if (this.peek().kind !== Tok.And) return first;
    const operands = [first];
    while (this.peek().kind === Tok.And) {
      this.i++;
      operands.push(this.parseUnary());
    }
    return { op: "&&", operands };
  }

  private parseUnary(): SelectorNode {
    let negated = false;
    while (this.peek().kind === Tok.Not) {
      negated = !negated;
      this.i++;
    }
    const node = this.parsePrimary();
    return negated ? { op: "!", operand: node } : node;
  }

  private parseString(): string {
    const t = this.peek();
    if (t.kind !== Tok.String) this.fail("a quoted string");
    this.i++;
    return t.value;
  }

  private parsePrimary(): SelectorNode {
    const t = this.peek();
    switch (t.kind) {
      case Tok.Has:
        this.i++;
        return { op: "has", label: t.value };
      case Tok.All:
        this.i++;
        return { op: "all" };
      case Tok.Global:
        this.i++;
        return { op: "global" };
      case Tok.LParen: {
        if (++this.depth > MAX_NESTING) {
          throw new SelectorError(`parentheses nested deeper than ${MAX_NESTING}`, this.input, t.pos);
        }
        this.i++;
        const inner = this.parseOr();
        this.depth--;
        if (this.peek().kind !== Tok.RParen) this.fail("'&&', '||' or ')'");
        this.i++;
        return inner;
      }
      case Tok.Label: {
        this.i++;
        const opTok = this.peek();
        const label = t.value;
        switch (opTok.kind) {
          case Tok.Eq:
            this.i++;
            return { op: "==", label, value: this.parseString() };
          case Tok.Ne:
            this.i++;
            return { op: "!=", label, value: this.parseString() };
          case Tok.Contains:
            this.i++;
            return { op: "contains", label, value: this.parseString() };
          case Tok.StartsWith:
            this.i++;
            return { op: "starts with", label, value: this.parseString() };
          case Tok.EndsWith:
            this.i++;
            return { op: "ends with", label, value: this.parseString() };
          case Tok.In:
          case Tok.NotIn: {
            this.i++;
            if (this.peek().kind !== Tok.LBrace) this.fail("a set literal '{'");
            this.i++;
            const values: string[] = [];
            while (this.peek().kind === Tok.String) {
              values.push(this.peek().value);
              this.i++;
              if (this.peek().kind !== Tok.Comma) {
                if (this.peek().kind !== Tok.RBrace) this.fail("',' or '}'");
                break;
              }
              this.i++;
            }
            if (this.peek().kind !== Tok.RBrace) this.fail("a quoted string or '}'");
            this.i++;
            return { op: opTok.kind === Tok.In ? "in" : "not in", label, values: toSortedSet(values) };
          }
          default:
            return this.fail(`an operator (==, !=, in, not in, contains, starts with, ends with) after label "${label}"`, opTok);
        }
      }
      default:
        return this.fail(PRIMARY_EXPECTED, t);
    }
  }
}

/** Parses selector text into its AST; throws SelectorError with the position of the problem. */
export function parseSelectorAst(input: string): SelectorNode {
  return new Parser(input, tokenize(input)).parseRoot();
}
