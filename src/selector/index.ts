/**
 * Calico's selector language (libcalico-go/lib/selector): parse, match, canonical form, unique IDs.
 * Pure: no I/O.
 */
export {
  parseSelector,
  selectorFromAst,
  makeUniqueId,
  rewriteNamespaceSelector,
  NAMESPACE_LABEL,
  NAMESPACE_LABEL_PREFIX,
  SERVICE_ACCOUNT_LABEL_PREFIX,
  type Selector,
} from "./selector.js";
export { SelectorError } from "./error.js";
export type { SelectorNode } from "./ast.js";
export { canonicalString } from "./ast.js";
export type { Labels, LabelLookup } from "./compile.js";
export { isValidLabel, MAX_LABEL_LENGTH } from "./tokenizer.js";
export { MAX_NESTING } from "./parser.js";
