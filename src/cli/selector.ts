/**
 * `tabby selector EXPR [--labels k=v,k2=v2]... [-o text|json]`: parse a Calico selector, print
 * whether it matches the given labels (`true`/`false`), or, without --labels, its canonical form
 * and unique ID. `-o json` prints all of it as one JSON object. A parse error prints the input with
 * a caret under the position and exits 1.
 *
 * `tabby selector EXPR --endpoints [--datastore URL] [-o text|json]` lists the WorkloadEndpoints
 * and HostEndpoints in the datastore that the selector selects, by their effective labels as
 * Calico's calculation graph computes them: the endpoint's own labels (plus
 * `projectcalico.org/namespace` and `projectcalico.org/orchestrator` for workloads), then the
 * `labelsToApply` of the profiles it lists, then those of the namespace profile `kns.<ns>`. It
 * reuses the policy graph's decoder and label index (src/calc/policy/), so it selects exactly what
 * the agent would.
 */
import { parseCommandLine } from "./parse.js";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { parseSelector, SelectorError, type Selector } from "../selector/index.js";
import type { Store } from "../datastore/store.js";
import { kindPrefix } from "../model/keys.js";
import { openStoreFromArgs } from "./datastore-flag.js";
import { decodeUpdate, type EndpointData } from "../calc/policy/decode.js";
import { LabelIndex } from "../calc/policy/label-index.js";
import { columns } from "./columns.js";

export const USAGE = "usage: tabby selector EXPR [--labels k=v[,k=v…]]... | --endpoints [--datastore URL]  [-o text|json]";

/** Parses "k=v,k2=v2" lists (values may contain '=' but not ','); later keys win. */
export function parseLabelList(specs: string[]): Record<string, string> {
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const spec of specs) {
    for (const item of spec.split(",")) {
      if (item === "") continue;
      const eq = item.indexOf("=");
      if (eq <= 0) throw new UsageError(`bad label "${item}": expected key=value\n${USAGE}`);
      labels[item.slice(0, eq)] = item.slice(eq + 1);
    }
  }
  return labels;
}

/** The input with a caret under `position`; tabs kept in the padding so the caret lines up. */
export function caretLines(input: string, position: number): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it replaces
  const shown = input.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, "?");
  const pad = shown.slice(0, position).replace(/[^\t]/g, " ");
  return `  ${shown}\n  ${pad}^\n`;
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("selector", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) {
    throw new UsageError(`expected exactly one selector expression (quote it), got ${positionals.length}\n${USAGE}`);
  }
  const output = values.output;
  if (output !== "text" && output !== "json") throw new UsageError(`-o must be text or json, not "${output}"`);
  if (values.endpoints && values.labels !== undefined) throw new UsageError(`--endpoints and --labels do not go together\n${USAGE}`);
  const expr = positionals[0]!;
  const labels = values.labels !== undefined ? parseLabelList(values.labels) : undefined;

  let sel;
  try {
    sel = parseSelector(expr);
  } catch (err) {
    if (!(err instanceof SelectorError)) throw err;
    if (output === "json") {
      io.stdout.write(`${JSON.stringify({ input: expr, error: { code: err.code, message: err.message, position: err.position } })}\n`);
    }
    io.stderr.write(`tabby selector: ${err.message}\n${caretLines(expr, err.position)}`);
    return 1;
  }

  if (values.endpoints) {
    const store = await openStoreFromArgs(values.datastore, io.env);
    let eps: SelectedEndpoint[];
    try {
      eps = await selectEndpoints(store, sel);
    } finally {
      await store.close();
    }
    if (output === "json") io.stdout.write(`${JSON.stringify({ selector: sel.toString(), endpoints: eps }, null, 2)}\n`);
    else io.stdout.write(endpointTable(eps));
    return 0;
  }

  const matches = labels !== undefined ? sel.matches(labels) : undefined;
  if (output === "json") {
    const out: Record<string, unknown> = { input: expr, selector: sel.toString(), uniqueId: sel.uniqueId() };
    if (labels !== undefined) {
      out["labels"] = { ...labels };
      out["matches"] = matches;
    }
    io.stdout.write(`${JSON.stringify(out)}\n`);
  } else if (matches !== undefined) {
    io.stdout.write(`${matches}\n`);
  } else {
    io.stdout.write(`${sel.toString()}\n${sel.uniqueId()}\n`);
  }
  return 0;
}

/** One endpoint a selector selects, as `--endpoints` prints it. */
export interface SelectedEndpoint {
  kind: "WorkloadEndpoint" | "HostEndpoint";
  /** Empty for HostEndpoints (cluster-scoped). */
  namespace: string;
  name: string;
  node: string;
  /** ipNetworks of a workload, expectedIPs of a host endpoint. */
  networks: string[];
  /** The effective labels the selector was matched against. */
  labels: Record<string, string>;
}

const SEL_ID = "q";

/**
 * The WorkloadEndpoints and HostEndpoints in `store` that `sel` selects, sorted by kind, namespace
 * and name. Effective labels come from the policy graph's own decoder and LabelIndex.
 */
export async function selectEndpoints(store: Store, sel: Selector): Promise<SelectedEndpoint[]> {
  const eps = new Map<string, { ep: EndpointData; name: string; namespace: string }>();
  const index = new LabelIndex({ onMatchStarted() {}, onMatchStopped() {} });
  for (const kind of ["Profile", "WorkloadEndpoint", "HostEndpoint"]) {
    const { items } = await store.list(kindPrefix(kind));
    for (const kv of items) {
      const d = decodeUpdate(kv.key, kv.value);
      if (!d) continue;
      if (d.kind === "Profile") index.updateParentLabels(d.name, d.value?.labelsToApply);
      else if ((d.kind === "WorkloadEndpoint" || d.kind === "HostEndpoint") && d.value) {
        const ep = d.value;
        const slash = kv.key.lastIndexOf("/");
        eps.set(kv.key, { ep, name: kv.key.slice(slash + 1), namespace: ep.kind === "wep" ? (ep.namespace ?? "") : "" });
        index.updateItem(kv.key, ep.labels, ep.labelParents);
      }
    }
  }
  index.updateSelector(SEL_ID, sel);
  const out: SelectedEndpoint[] = [];
  for (const key of index.itemsMatching(SEL_ID)) {
    const e = eps.get(key)!;
    const eff = index.labelsOf(key) ?? {};
    const labels: Record<string, string> = {};
    for (const k in eff) labels[k] = eff[k]!; // own and inherited (prototype) labels
    out.push({
      kind: e.ep.kind === "wep" ? "WorkloadEndpoint" : "HostEndpoint",
      namespace: e.namespace,
      name: e.name,
      node: e.ep.node,
      networks: [...e.ep.nets],
      labels: Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    });
  }
  const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  out.sort((a, b) => cmp(a.kind, b.kind) || cmp(a.namespace, b.namespace) || cmp(a.name, b.name));
  return out;
}

/** The text table: NAMESPACE NAME NODE NETWORKS (HostEndpoints show namespace "(host)"). */
export function endpointTable(eps: SelectedEndpoint[]): string {
  const rows = [["NAMESPACE", "NAME", "NODE", "NETWORKS"]];
  for (const e of eps) rows.push([e.kind === "HostEndpoint" ? "(host)" : e.namespace, e.name, e.node, e.networks.join(",")]);
  return columns(rows);
}
