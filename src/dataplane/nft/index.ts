/** The nftables policy dataplane: renderer (pure), read-back (pure), driver (effects injected). */
export { NftDataplane, type NftDataplaneOptions, type NftApplyStats } from "./driver.js";
export { renderTable, TableRenderer, fullScript, deltaScript, renderRule, renderEndpointRules, type Rendered } from "./render.js";
export { renderMatch, ruleFamilies } from "./match.js";
export { applyEvents, emptyState, DEFAULT_CONFIG, type DesiredState } from "./state.js";
export { parseTableJson, diffActual } from "./readback.js";
export { MARK_ACCEPT, MARK_PASS, MARK_MASK, TABLE, policyChain, ipSetName, ifaceSuffix } from "./names.js";
