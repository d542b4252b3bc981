/**
 * The field inventory (issue #12): every class of field tabby cannot honour is refused by name
 * when written (message: the path, the value and why), and kept for the reader to judge when read
 * back from the datastore (Checker "stored"); defaults and "off" values are accepted.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateResource } from "./validate.js";
import { ValidationError } from "./errors.js";
import { unenforceableCriteria } from "./rules.js";

const V3 = "projectcalico.org/v3";
const res = (kind: string, spec: unknown, name = "default") => ({ apiVersion: V3, kind, metadata: { name }, spec });

function problems(input: unknown): string[] {
  try {
    validateResource(input);
    return [];
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err));
    return err.errors.map((e) => `${e.path}: ${e.message}`);
  }
}

test("policy rules: http and services are refused by path at write; a stored rule keeps them (and is skipped by the compiler)", () => {
  const gnp = res(
    "GlobalNetworkPolicy",
    {
      selector: "app == 'web'",
      ingress: [
        { action: "Allow", protocol: "TCP", http: { methods: ["GET"], paths: [{ exact: "/health" }] } },
        { action: "Allow", destination: { services: { name: "api", namespace: "prod" } } },
        { action: "Deny", source: { services: { name: "x" } } },
      ],
    },
    "web",
  );
  const p = problems(gnp);
  assert.equal(p.length, 3);
  assert.match(p[0]!, /^spec\.ingress\[0\]\.http: HTTP match criteria are not enforced by tabby \(no layer-7 proxy\)/);
  assert.match(p[1]!, /^spec\.ingress\[1\]\.destination\.services: Kubernetes Service matches are not enforced by tabby/);
  assert.match(p[2]!, /^spec\.ingress\[2\]\.source\.services: /);
  const stored = validateResource<{ kind: string; metadata: { name: string }; spec: { ingress: object[] } } & never>(gnp, {}, { stored: true });
  assert.equal((stored as unknown as { spec: { ingress: object[] } }).spec.ingress.length, 3);
  // http is still typed when stored: a malformed one is an error either way
  assert.match(
    problems(res("GlobalNetworkPolicy", { ingress: [{ action: "Allow", http: { paths: [{ exact: "/a", prefix: "/b" }] } }] }, "x")).join(),
    /spec\.ingress\[0\]\.http\.paths\[0\]: must set exactly one of exact and prefix/,
  );
  assert.deepEqual(unenforceableCriteria({ action: "Allow", protocol: "TCP", destination: { ports: [80] } }), []);
  // a Profile's rules are checked the same way
  assert.match(problems(res("Profile", { ingress: [{ action: "Allow", http: { methods: ["GET"] } }] }, "p")).join(), /^spec\.ingress\[0\]\.http: /);
});

test("FelixConfiguration: every Calico field is typed; unknown fields refused; non-default values of unhonoured fields refused by name", () => {
  const felix = (spec: object) => res("FelixConfiguration", spec);
  // Calico's defaults and "off" values are accepted
  assert.deepEqual(
    problems(
      felix({
        bpfEnabled: false,
        wireguardEnabled: false,
        ipipEnabled: false,
        vxlanEnabled: false,
        routeRefreshInterval: "1m30s",
        xdpEnabled: true,
        logSeverityScreen: "info",
        chainInsertMode: "Insert",
        ipv6Support: true,
        nftablesMode: "Enabled",
      }),
    ),
    [],
  );
  assert.deepEqual(problems(felix({ logSeverityScreen: "Info", reportingInterval: "30s", vxlanPort: 4789 })), []);
  // unhonoured values: refused with path, value and why
  assert.deepEqual(problems(felix({ wireguardEnabled: true })), [
    "spec.wireguardEnabled: true is not honoured: tabby has no WireGuard encryption. Remove wireguardEnabled or set it to false",
  ]);
  assert.match(
    problems(felix({ bpfEnabled: true })).join(),
    /^spec\.bpfEnabled: true is not honoured: tabby's dataplane is nftables; it has no eBPF dataplane/,
  );
  assert.match(problems(felix({ ipv6Support: false })).join(), /^spec\.ipv6Support: false is not honoured: .* set it to true$/);
  assert.match(
    problems(felix({ routeRefreshInterval: "10s" })).join(),
    /^spec\.routeRefreshInterval: "10s" is not honoured: tabby does not implement it\. Remove routeRefreshInterval or set it to "90s"$/,
  );
  assert.match(problems(felix({ ipipEnabled: true })).join(), /builds no IPIP tunnels/);
  // types and enums
  assert.match(problems(felix({ bpfEnabled: "yes" })).join(), /^spec\.bpfEnabled: must be true or false, got "yes"$/);
  assert.match(problems(felix({ vxlanPort: "4789" })).join(), /^spec\.vxlanPort: must be an integer, got "4789"$/);
  assert.match(problems(felix({ routeRefreshInterval: 90 })).join(), /^spec\.routeRefreshInterval: must be a duration/);
  assert.match(
    problems(felix({ logSeverityScreen: "Loud" })).join(),
    /^spec\.logSeverityScreen: must be one of Trace, Debug, Info, Warning, Error, Fatal, got "Loud"$/,
  );
  assert.deepEqual(problems(felix({ bpfEnabeld: false })), ["spec.bpfEnabeld: unknown field (not a FelixConfiguration field)"]);
  // stored (another writer): kept, not an error
  assert.deepEqual(validateResource(felix({ bpfEnabled: true }), {}, { stored: true }).spec, { bpfEnabled: true });
});

test("FelixConfiguration failsafe ports: a quoted port is refused, not dropped; net and SCTP refused; TCP/UDP numbers accepted", () => {
  const felix = (spec: object) => res("FelixConfiguration", spec);
  assert.deepEqual(
    problems(
      felix({
        failsafeInboundHostPorts: [
          { protocol: "TCP", port: 22 },
          { protocol: "udp", port: 68 },
        ],
        failsafeOutboundHostPorts: [{ protocol: "UDP", port: 53 }],
      }),
    ),
    [],
  );
  assert.deepEqual(problems(felix({ failsafeInboundHostPorts: [{ protocol: "tcp", port: "22" }] })), [
    'spec.failsafeInboundHostPorts[0].port: must be a number, not a string: write 22 without quotes (got "22"); a failsafe port is never dropped silently',
  ]);
  assert.match(
    problems(felix({ failsafeInboundHostPorts: [{ protocol: "TCP", port: 22, net: "10.0.0.0/8" }] })).join(),
    /^spec\.failsafeInboundHostPorts\[0\]\.net: tabby's failsafe rules match the port from any address/,
  );
  assert.match(
    problems(felix({ failsafeOutboundHostPorts: [{ protocol: "SCTP", port: 9 }] })).join(),
    /^spec\.failsafeOutboundHostPorts\[0\]\.protocol: must be TCP or UDP/,
  );
  assert.match(problems(felix({ failsafeInboundHostPorts: [{ protocol: "TCP", port: 70000 }] })).join(), /port: must be a port 1-65535/);
  assert.match(problems(felix({ failsafeInboundHostPorts: [{ protocol: "TCP" }] })).join(), /port: is required/);
  assert.match(problems(felix({ failsafeInboundHostPorts: "tcp:22" })).join(), /must be a list of \{protocol, port\}/);
});

test("IPPool: tunnel modes and Manual assignment refused by name; Never accepted", () => {
  const pool = (spec: object) => res("IPPool", { cidr: "10.9.0.0/16", ...spec }, "p");
  assert.deepEqual(problems(pool({ ipipMode: "Never", vxlanMode: "Never", assignmentMode: "Automatic" })), []);
  assert.deepEqual(problems(pool({ ipipMode: "Always" })), ["spec.ipipMode: Always is not supported: tabby is pure layer 3 and builds no tunnels; use Never"]);
  assert.deepEqual(problems(pool({ vxlanMode: "CrossSubnet" })), [
    "spec.vxlanMode: CrossSubnet is not supported: tabby is pure layer 3 and builds no tunnels; use Never",
  ]);
  assert.match(problems(pool({ ipip: { enabled: true } })).join(), /^spec\.ipip: unknown field/);
});

test("KubeControllersConfiguration: typed; Calico's defaults accepted; anything else refused (tabby runs no kube-controllers); name default", () => {
  const kcc = (spec: object, name = "default") => res("KubeControllersConfiguration", spec, name);
  const calicoDefault = {
    logSeverityScreen: "Info",
    healthChecks: "Enabled",
    etcdV3CompactionPeriod: "10m0s",
    prometheusMetricsPort: 9094,
    controllers: {
      node: { reconcilerPeriod: "5m", syncLabels: "Enabled", hostEndpoint: { autoCreate: "Disabled" } },
      policy: { reconcilerPeriod: "5m" },
      workloadEndpoint: { reconcilerPeriod: "5m" },
      serviceAccount: { reconcilerPeriod: "5m" },
      namespace: { reconcilerPeriod: "5m" },
      loadBalancer: { assignIPs: "AllServices" },
    },
  };
  assert.deepEqual(problems(kcc(calicoDefault)), []);
  assert.deepEqual(problems(kcc({ controllers: { node: { hostEndpoint: { autoCreate: "Enabled" } } } })), [
    'spec.controllers.node.hostEndpoint.autoCreate: "Enabled" is not honoured: tabby runs no kube-controllers, so nothing would act on it. Remove it or use Calico\'s default "Disabled"',
  ]);
  assert.match(problems(kcc({ healthChecks: "Sometimes" })).join(), /^spec\.healthChecks: must be one of Enabled, Disabled/);
  assert.match(problems(kcc({ controllers: { nodes: {} } })).join(), /^spec\.controllers\.nodes: unknown field/);
  assert.match(problems(kcc({ etcdV3CompactionPeriod: "1h" })).join(), /^spec\.etcdV3CompactionPeriod: "1h" is not honoured/);
  assert.match(problems(kcc({}, "other")).join(), /^metadata\.name: must be "default"/);
});

test("ClusterInformation: informational strings stored; datastoreReady false refused; unknown fields refused", () => {
  const ci = (spec: object, name = "default") => res("ClusterInformation", spec, name);
  assert.deepEqual(problems(ci({ clusterGUID: "abc", clusterType: "k8s,bgp", calicoVersion: "v3.29.0", datastoreReady: true, variant: "Calico" })), []);
  assert.match(problems(ci({ datastoreReady: false })).join(), /^spec\.datastoreReady: false is not honoured: tabby's agents do not pause/);
  assert.match(problems(ci({ datastoreReady: "yes" })).join(), /^spec\.datastoreReady: must be true or false/);
  assert.match(problems(ci({ clusterGuid: "x" })).join(), /^spec\.clusterGuid: unknown field/);
  assert.match(problems(ci({}, "x")).join(), /^metadata\.name: must be "default"/);
});
