/**
 * The parsed selector: canonical string, unique ID and a compiled matcher.
 *
 * Unique ID exactly as Calico's `hash.MakeUniqueID("s", canonical)`
 * (libcalico-go/lib/hash/unique_id.go): SHA-224 over the UTF-8 bytes of "s:" + canonical, encoded
 * base64url WITHOUT padding, prefixed with "s:". Note the prefix is hashed too.
 */
import { sha224 } from "@noble/hashes/sha2.js";
import { utf8ToBytes } from "@noble/hashes/utils.js";
import { canonicalString, toSortedSet, type SelectorNode } from "./ast.js";
import { compileForLookup, compileForMap, compileForRecord, type LabelLookup, type Labels, type Matcher } from "./compile.js";
import { parseSelectorAst } from "./parser.js";

/** Calico's label holding a workload's namespace (apiv3.LabelNamespace). */
export const NAMESPACE_LABEL = "projectcalico.org/namespace";
/** Prefix Calico puts on namespace labels when a rule's namespaceSelector is converted. */
export const NAMESPACE_LABEL_PREFIX = "pcns.";
/** Prefix Calico puts on service-account labels when a rule's serviceAccount selector is converted. */
export const SERVICE_ACCOUNT_LABEL_PREFIX = "pcsa.";

/**
 * Calico's unique ID for an object: prefix + ":" + base64url(SHA-224(prefix + ":" + content)),
 * unpadded. SHA-224 from @noble/hashes, not node:crypto, which the CNI plugins (whose IPAM parses
 * pool selectors) would otherwise spend ~7 ms of every start loading.
 */
export function makeUniqueId(prefix: string, content: string): string {
  const s = `${prefix}:${content}`;
  return `${prefix}:${Buffer.from(sha224(utf8ToBytes(s))).toString("base64url")}`;
}

export interface Selector {
  /** The AST (read-only), for label indexes and analyses. */
  readonly ast: SelectorNode;
  /** True when the labels satisfy the selector (Calico semantics). */
  matches(labels: Labels): boolean;
  /** Like matches, with labels given by a lookup function (undefined = absent): layered label sources. */
  matchesLookup(get: LabelLookup): boolean;
  /** Calico's canonical string, byte for byte. */
  toString(): string;
  /** "s:" + base64url(SHA-224("s:" + canonical)), unpadded: Calico's Selector.UniqueID(). */
  uniqueId(): string;
  /** True when both have the same canonical form. */
  equals(other: Selector): boolean;
  /** A copy with `prefix` put before every label name (Calico's PrefixVisitor). */
  withLabelPrefix(prefix: string): Selector;
}

function prefixLabels(node: SelectorNode, prefix: string): SelectorNode {
  switch (node.op) {
    case "all":
    case "global":
      return node;
    case "!":
      return { op: "!", operand: prefixLabels(node.operand, prefix) };
    case "&&":
    case "||":
      return { op: node.op, operands: node.operands.map((o) => prefixLabels(o, prefix)) };
    default:
      return { ...node, label: prefix + node.label };
  }
}

class CompiledSelector implements Selector {
  readonly ast: SelectorNode;
  private readonly canonical: string;
  private id: string | undefined;
  private recordFn: Matcher<Readonly<Record<string, string>>> | undefined;
  private mapFn: Matcher<ReadonlyMap<string, string>> | undefined;
  private lookupFn: Matcher<LabelLookup> | undefined;

  constructor(ast: SelectorNode) {
    this.ast = ast;
    this.canonical = canonicalString(ast);
  }

  matches(labels: Labels): boolean {
    if (labels instanceof Map || typeof (labels as { get?: unknown }).get === "function") {
      return (this.mapFn ??= compileForMap(this.ast))(labels as ReadonlyMap<string, string>);
    }
    return (this.recordFn ??= compileForRecord(this.ast))(labels as Readonly<Record<string, string>>);
  }

  matchesLookup(get: LabelLookup): boolean {
    return (this.lookupFn ??= compileForLookup(this.ast))(get);
  }

  toString(): string {
    return this.canonical;
  }

  uniqueId(): string {
    return (this.id ??= makeUniqueId("s", this.canonical));
  }

  equals(other: Selector): boolean {
    return this.canonical === other.toString();
  }

  withLabelPrefix(prefix: string): Selector {
    return new CompiledSelector(prefixLabels(this.ast, prefix));
  }
}

/** Parses Calico selector text. Empty or blank text means all(). Throws SelectorError. */
export function parseSelector(text: string): Selector {
  return new CompiledSelector(parseSelectorAst(text));
}

function normaliseSets(node: SelectorNode): SelectorNode {
  switch (node.op) {
    case "in":
    case "not in":
      return { op: node.op, label: node.label, values: toSortedSet(node.values) };
    case "!":
      return { op: "!", operand: normaliseSets(node.operand) };
    case "&&":
    case "||":
      return { op: node.op, operands: node.operands.map(normaliseSets) };
    default:
      return node;
  }
}

/**
 * Builds a Selector from an AST made by a program rather than parsed. Set members are sorted and
 * de-duplicated as the parser does; label names and values are taken as given (a label name that
 * the tokenizer would not accept gives a canonical form that does not parse).
 */
export function selectorFromAst(ast: SelectorNode): Selector {
  return new CompiledSelector(normaliseSets(ast));
}

/**
 * How Calico turns a rule's namespaceSelector into an endpoint selector
 * (updateprocessors/rules.go `getEndpointSelector`): every label gets the `pcns.` prefix, then in
 * the canonical text `all()` becomes `has(projectcalico.org/namespace)` (any namespaced endpoint)
 * and `global()` becomes `!has(projectcalico.org/namespace)` (only non-namespaced objects: host
 * endpoints and global network sets). Calico does this as a plain text replacement, which also
 * rewrites those words inside string literals; so do we, to produce the same selectors and IDs.
 */
export function rewriteNamespaceSelector(text: string): string {
  const prefixed = parseSelector(text).withLabelPrefix(NAMESPACE_LABEL_PREFIX).toString();
  return prefixed.replaceAll("all()", `has(${NAMESPACE_LABEL})`).replaceAll("global()", `!has(${NAMESPACE_LABEL})`);
}
