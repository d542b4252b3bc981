/**
 * tabby's public package entry: the pure building blocks other programs may use.
 */
export * from "./net/index.js";
export { TabbyError, hasCode } from "./errors.js";
export { parseSelector, SelectorError, type Selector } from "./selector/index.js";
