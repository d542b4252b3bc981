/**
 * KubeControllersConfiguration and ClusterInformation (cluster-scoped, one object each, named
 * `default` as calico-node and kube-controllers create them), field by field as Calico's API
 * (kubecontrollersconfig.go, clusterinfo.go):
 *   - KubeControllersConfiguration: typed and enumerated (`logSeverityScreen`, `healthChecks`,
 *     `etcdV3CompactionPeriod`, `prometheusMetricsPort`, `debugProfilePort`, `controllers` with
 *     `node` {reconcilerPeriod, syncLabels, hostEndpoint {autoCreate, createDefaultHostEndpoint,
 *     templates}, leakGracePeriod}, `policy`/`workloadEndpoint`/`serviceAccount`/`namespace`
 *     {reconcilerPeriod}, `loadBalancer` {assignIPs}). tabby runs no kube-controllers, so a value
 *     other than Calico's default is refused by name (Checker.unsupported): nothing would act on it.
 *   - ClusterInformation: `clusterGUID`, `clusterType`, `calicoVersion`, `variant` are stored as
 *     information; `datastoreReady: false` (Calico's components then stop) is refused: tabby's
 *     agents do not pause on it.
 * Pure: no I/O.
 */
import { arrayOf, bool, type Checker, duration, int, mapOf, object, oneOf, selectorField, str, type Field } from "./check.js";

const NO_KCC = "tabby runs no kube-controllers, so nothing would act on it";

/** A field accepted only at Calico's default value `def`; others refused (not honoured). */
function defaultOnly<T>(field: Field<T>, def: T, same: (a: T, b: T) => boolean = (a, b) => a === b): Field<T> {
  return (v, path, c) => {
    const r = field(v, path, c);
    if (r !== undefined && !same(r, def))
      c.unsupported(path, `${JSON.stringify(r)} is not honoured: ${NO_KCC}. Remove it or use Calico's default ${JSON.stringify(def)}`);
    return r;
  };
}

function seconds(d: string): number {
  const unit: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  let n = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) n += Number(m[1]) * unit[m[2]!]!;
  return n;
}
const sameDuration = (a: string, b: string) => seconds(a) === seconds(b);
const period = (def: string) => defaultOnly(duration, def, sameDuration);
const reconciler = object<{ reconcilerPeriod?: string }>({ reconcilerPeriod: period("5m") });

interface Template {
  generateName?: string;
  interfaceCIDRs?: string[];
  interfaceSelector?: string;
  labels?: Record<string, string>;
  nodeSelector?: string;
}
const template = object<Template>({ generateName: str, interfaceCIDRs: arrayOf(str), interfaceSelector: str, labels: mapOf(str), nodeSelector: selectorField });

const kccSpec = object<Record<string, unknown>>({
  logSeverityScreen: defaultOnly(oneOf(["Trace", "Debug", "Info", "Warning", "Error", "Fatal", "Panic"] as const), "Info"),
  healthChecks: defaultOnly(oneOf(["Enabled", "Disabled"] as const), "Enabled"),
  etcdV3CompactionPeriod: period("10m"),
  prometheusMetricsPort: defaultOnly(int(0, 65535), 9094),
  debugProfilePort: defaultOnly(int(0, 65535), 0),
  controllers: object<Record<string, unknown>>({
    node: object<Record<string, unknown>>({
      reconcilerPeriod: period("5m"),
      syncLabels: defaultOnly(oneOf(["Enabled", "Disabled"] as const), "Enabled"),
      hostEndpoint: object<Record<string, unknown>>({
        autoCreate: defaultOnly(oneOf(["Enabled", "Disabled"] as const), "Disabled"),
        createDefaultHostEndpoint: defaultOnly(oneOf(["Enabled", "Disabled"] as const), "Enabled"),
        templates: (v, p, c) => {
          const r = arrayOf(template)(v, p, c);
          if (r?.length) c.unsupported(p, `${NO_KCC} (no host endpoints are created from templates); remove templates`);
          return r;
        },
      }),
      leakGracePeriod: period("15m"),
    }),
    policy: reconciler,
    workloadEndpoint: reconciler,
    serviceAccount: reconciler,
    namespace: reconciler,
    loadBalancer: object<Record<string, unknown>>({ assignIPs: defaultOnly(oneOf(["AllServices", "RequestedServicesOnly"] as const), "AllServices") }),
  }),
});

export function checkKubeControllersConfigurationSpec(v: unknown, c: Checker, name: string): Record<string, unknown> | undefined {
  if (name !== "default") c.error("metadata.name", `must be "default" (there is one KubeControllersConfiguration), got ${JSON.stringify(name)}`);
  return kccSpec(v, "spec", c);
}

const ciSpec = object<Record<string, unknown>>({
  clusterGUID: str,
  clusterType: str,
  calicoVersion: str,
  variant: str,
  datastoreReady: (v, p, c) => {
    const r = bool(v, p, c);
    if (r === false) c.unsupported(p, "false is not honoured: tabby's agents do not pause when the datastore is marked not ready; remove it or set true");
    return r;
  },
});

export function checkClusterInformationSpec(v: unknown, c: Checker, name: string): Record<string, unknown> | undefined {
  if (name !== "default") c.error("metadata.name", `must be "default" (there is one ClusterInformation), got ${JSON.stringify(name)}`);
  return ciSpec(v, "spec", c);
}
