/**
 * State-sequence tests for the policy calculation graph (see src/testkit/calc/policy/harness.ts).
 */
import { test } from "node:test";
import {
  EMPTY,
  HOST,
  felixConfig,
  gnetset,
  gnp,
  hep,
  netset,
  np,
  npid,
  nsProfile,
  profile,
  runSequence,
  sid,
  tier,
  wep,
  wepKey,
  type State,
} from "../../testkit/calc/policy/harness.js";

const allow = { action: "allow", match: {} };
const nsProfilePolicies = (...nss: string[]) => Object.fromEntries(nss.map((ns) => [`pro/kns.${ns}`, { ingress: [allow], egress: [allow] }]));

// Kubernetes-style: default deny in the namespace, then allow the client to the db on 5432.
const k8sDefaultDeny: State = {
  name: "k8s default deny + allow from label",
  kvs: [
    nsProfile("prod"),
    wep("prod", "web", { ip: "10.0.0.1", labels: { app: "web" } }),
    wep("prod", "db", { ip: "10.0.0.2", labels: { app: "db" } }),
    wep("prod", "client", { node: "h2", ip: "10.0.1.1", labels: { app: "client" } }),
    wep("dev", "client", { node: "h2", ip: "10.0.2.1", labels: { app: "client" } }),
    np("prod", "default-deny", { selector: "all()", types: ["Ingress"] }),
    np("prod", "allow-client", {
      selector: "app == 'db'",
      ingress: [{ action: "Allow", protocol: "TCP", source: { selector: "app == 'client'" }, destination: { ports: [5432] } }],
    }),
  ],
  expected: {
    sets: { [sid("projectcalico.org/namespace == 'prod' && app == 'client'")]: ["10.0.1.1/32"] },
    policies: {
      ...nsProfilePolicies("prod"),
      "np/prod/default-deny": {},
      "np/prod/allow-client": {
        ingress: [
          {
            action: "allow",
            match: { protocol: 6, srcIpSets: [sid("projectcalico.org/namespace == 'prod' && app == 'client'")], dstPorts: [{ first: 5432, last: 5432 }] },
          },
        ],
      },
    },
    weps: {
      [wepKey("prod", "web")]: {
        ingress: { tiers: [["default", "deny", ["np/prod/default-deny"]]], profiles: ["pro/kns.prod"] },
        egress: { profiles: ["pro/kns.prod"] },
      },
      [wepKey("prod", "db")]: {
        ingress: { tiers: [["default", "deny", ["np/prod/allow-client", "np/prod/default-deny"]]], profiles: ["pro/kns.prod"] },
        egress: { profiles: ["pro/kns.prod"] },
      },
    },
  },
};

// The same with policy orders: an ordered policy goes before unordered ones; the allow moves to
// the egress side too (types change), and the client set is then used in both directions.
const k8sOrdered: State = {
  ...k8sDefaultDeny,
  name: "k8s with policy orders and types changed",
  kvs: k8sDefaultDeny.kvs.map((kv) =>
    kv[0].endsWith("/default-deny")
      ? np("prod", "default-deny", { order: 1, selector: "all()", types: ["Ingress"] })
      : kv[0].endsWith("/allow-client")
        ? np("prod", "allow-client", {
            selector: "app == 'db'",
            ingress: [{ action: "Allow", protocol: "TCP", source: { selector: "app == 'client'" }, destination: { ports: [5432] } }],
            egress: [{ action: "Allow", destination: { selector: "app == 'client'" } }],
          })
        : kv,
  ),
  expected: {
    ...k8sDefaultDeny.expected,
    policies: {
      ...k8sDefaultDeny.expected.policies,
      "np/prod/allow-client": {
        ingress: [
          {
            action: "allow",
            match: { protocol: 6, srcIpSets: [sid("projectcalico.org/namespace == 'prod' && app == 'client'")], dstPorts: [{ first: 5432, last: 5432 }] },
          },
        ],
        egress: [{ action: "allow", match: { dstIpSets: [sid("projectcalico.org/namespace == 'prod' && app == 'client'")] } }],
      },
    },
    weps: {
      [wepKey("prod", "web")]: {
        ingress: { tiers: [["default", "deny", ["np/prod/default-deny"]]], profiles: ["pro/kns.prod"] },
        egress: { profiles: ["pro/kns.prod"] },
      },
      [wepKey("prod", "db")]: {
        ingress: { tiers: [["default", "deny", ["np/prod/default-deny", "np/prod/allow-client"]]], profiles: ["pro/kns.prod"] },
        egress: { tiers: [["default", "deny", ["np/prod/allow-client"]]], profiles: ["pro/kns.prod"] },
      },
    },
  },
};

// Tiers: ordered by tier order; Pass and tier defaultAction; a tier with no Tier resource last, deny.
const tiers: State = {
  name: "tiers with Pass and defaultAction",
  kvs: [
    nsProfile("prod"),
    wep("prod", "web", { ip: "10.0.0.1", labels: { app: "web" } }),
    wep("prod", "peer", { node: "h2", ip: "10.0.1.5", labels: { role: "trusted" } }),
    tier("security", { order: 100, defaultAction: "Pass" }),
    gnp("security.pass-trusted", {
      tier: "security",
      order: 10,
      selector: "app == 'web'",
      ingress: [{ action: "Pass", source: { selector: "role == 'trusted'" } }, { action: "Deny" }],
    }),
    gnp("security.log", { tier: "security", order: 5, selector: "all()", ingress: [{ action: "Log" }] }),
    gnp("kube-admin.baseline", { tier: "kube-admin", selector: "has(app)", egress: [{ action: "Pass" }] }),
    gnp("ops.audit", { tier: "ops", selector: "app == 'web'", ingress: [{ action: "Allow" }] }),
    np("prod", "b-allow", { order: 100, selector: "app == 'web'", ingress: [{ action: "Allow" }] }),
    np("prod", "a-allow", { order: 100, selector: "app == 'web'", ingress: [{ action: "Allow" }] }),
    np("prod", "first", { order: 1, selector: "app == 'web'", ingress: [{ action: "Deny", protocol: "UDP" }] }),
  ],
  expected: {
    sets: { [sid("role == 'trusted'")]: ["10.0.1.5/32"] },
    policies: {
      ...nsProfilePolicies("prod"),
      "gnp/security.pass-trusted": {
        ingress: [
          { action: "pass", match: { srcIpSets: [sid("role == 'trusted'")] } },
          { action: "deny", match: {} },
        ],
      },
      "gnp/security.log": { ingress: [{ action: "log", match: {} }] },
      "gnp/kube-admin.baseline": { egress: [{ action: "pass", match: {} }] },
      "gnp/ops.audit": { ingress: [allow] },
      "np/prod/b-allow": { ingress: [allow] },
      "np/prod/a-allow": { ingress: [allow] },
      "np/prod/first": { ingress: [{ action: "deny", match: { protocol: 17 } }] },
    },
    weps: {
      [wepKey("prod", "web")]: {
        ingress: {
          tiers: [
            ["security", "pass", ["gnp/security.log", "gnp/security.pass-trusted"]],
            ["default", "deny", ["np/prod/first", "np/prod/a-allow", "np/prod/b-allow"]],
            ["ops", "deny", ["gnp/ops.audit"]],
          ],
          profiles: ["pro/kns.prod"],
        },
        egress: { tiers: [["kube-admin", "pass", ["gnp/kube-admin.baseline"]]], profiles: ["pro/kns.prod"] },
      },
    },
  },
};

// The same with the security tier's order moved after default and its action back to Deny.
const tiersReordered: State = {
  ...tiers,
  name: "tier reordered",
  kvs: tiers.kvs.map((kv) => (kv[0].endsWith("/tiers/security") ? tier("security", { order: 2_000_000 }) : kv)),
  expected: {
    ...tiers.expected,
    weps: {
      [wepKey("prod", "web")]: {
        ingress: {
          tiers: [
            ["default", "deny", ["np/prod/first", "np/prod/a-allow", "np/prod/b-allow"]],
            ["security", "deny", ["gnp/security.log", "gnp/security.pass-trusted"]],
            ["ops", "deny", ["gnp/ops.audit"]],
          ],
          profiles: ["pro/kns.prod"],
        },
        egress: { tiers: [["kube-admin", "pass", ["gnp/kube-admin.baseline"]]], profiles: ["pro/kns.prod"] },
      },
    },
  },
};

// Egress deny to a CIDR, then allow; a global network set selected in a rule; namespaced sets.
const egressAndNetsets: State = {
  name: "egress deny to CIDR, network sets",
  kvs: [
    nsProfile("prod"),
    wep("prod", "web", { ip: "10.0.0.1", labels: { app: "web" } }),
    gnetset("external", ["198.51.100.0/24", "2001:db8::/32"], { role: "external" }),
    netset("prod", "partners", ["203.0.113.7/32"], { role: "external" }),
    netset("dev", "partners", ["203.0.113.99/32"], { role: "external" }),
    gnp("deny-docs", {
      selector: "app == 'web'",
      types: ["Egress"],
      egress: [
        { action: "Deny", destination: { nets: ["192.0.2.7/24"] } },
        { action: "Allow", destination: { selector: "role == 'external'" } },
      ],
    }),
    np("prod", "to-partners", {
      selector: "app == 'web'",
      egress: [
        { action: "Allow", destination: { selector: "role == 'external'" } },
        { action: "Deny", destination: { notNets: ["10.0.0.0/8"] } },
      ],
    }),
  ],
  expected: {
    sets: {
      [sid("role == 'external'")]: ["198.51.100.0/24", "2001:db8::/32", "203.0.113.7/32", "203.0.113.99/32"],
      [sid("projectcalico.org/namespace == 'prod' && role == 'external'")]: ["203.0.113.7/32"],
    },
    policies: {
      ...nsProfilePolicies("prod"),
      "gnp/deny-docs": {
        egress: [
          { action: "deny", match: { dstNets: ["192.0.2.0/24"] } },
          { action: "allow", match: { dstIpSets: [sid("role == 'external'")] } },
        ],
      },
      "np/prod/to-partners": {
        egress: [
          { action: "allow", match: { dstIpSets: [sid("projectcalico.org/namespace == 'prod' && role == 'external'")] } },
          { action: "deny", match: { notDstNets: ["10.0.0.0/8"] } },
        ],
      },
    },
    weps: {
      [wepKey("prod", "web")]: {
        ingress: { profiles: ["pro/kns.prod"] },
        egress: { tiers: [["default", "deny", ["gnp/deny-docs", "np/prod/to-partners"]]], profiles: ["pro/kns.prod"] },
      },
    },
  },
};

// Named ports: ip-port sets from endpoints' ports; protocol from the rule; negated named ports.
const namedPorts: State = {
  name: "named ports",
  kvs: [
    nsProfile("prod"),
    wep("prod", "web", {
      ip: "10.0.0.1",
      labels: { app: "web" },
      ports: [
        { name: "http", protocol: "TCP", port: 8080 },
        { name: "dns", protocol: "UDP", port: 5353 },
      ],
    }),
    wep("prod", "web2", { node: "h2", ip: ["10.0.1.1", "10.0.1.2"], labels: { app: "web" }, ports: [{ name: "http", protocol: "TCP", port: 80 }] }),
    wep("prod", "other", { node: "h3", ip: "10.0.2.1", labels: { app: "other" }, ports: [{ name: "http", protocol: "UDP", port: 80 }] }),
    np("prod", "named", {
      selector: "app == 'web'",
      ingress: [
        { action: "Allow", protocol: "TCP", destination: { ports: ["http"] } },
        { action: "Allow", protocol: "UDP", destination: { selector: "app == 'web'", ports: ["dns", 53] } },
        { action: "Deny", protocol: "TCP", source: { selector: "app == 'web'", notPorts: ["http"] } },
      ],
    }),
  ],
  expected: {
    sets: {
      [npid("all()", "tcp", "http")]: ["10.0.0.1,tcp:8080", "10.0.1.1,tcp:80", "10.0.1.2,tcp:80"],
      [npid("projectcalico.org/namespace == 'prod' && app == 'web'", "udp", "dns")]: ["10.0.0.1,udp:5353"],
      [sid("projectcalico.org/namespace == 'prod' && app == 'web'")]: ["10.0.0.1/32", "10.0.1.1/32", "10.0.1.2/32"],
      [npid("projectcalico.org/namespace == 'prod' && app == 'web'", "tcp", "http")]: ["10.0.0.1,tcp:8080", "10.0.1.1,tcp:80", "10.0.1.2,tcp:80"],
    },
    policies: {
      ...nsProfilePolicies("prod"),
      "np/prod/named": {
        ingress: [
          { action: "allow", match: { protocol: 6, dstNamedPortIpSets: [npid("all()", "tcp", "http")] } },
          {
            action: "allow",
            match: {
              protocol: 17,
              dstIpSets: [sid("projectcalico.org/namespace == 'prod' && app == 'web'")],
              dstPorts: [{ first: 53, last: 53 }],
              dstNamedPortIpSets: [npid("projectcalico.org/namespace == 'prod' && app == 'web'", "udp", "dns")],
            },
          },
          {
            action: "deny",
            match: {
              protocol: 6,
              srcIpSets: [sid("projectcalico.org/namespace == 'prod' && app == 'web'")],
              notSrcNamedPortIpSets: [npid("projectcalico.org/namespace == 'prod' && app == 'web'", "tcp", "http")],
            },
          },
        ],
      },
    },
    weps: {
      [wepKey("prod", "web")]: {
        ingress: { tiers: [["default", "deny", ["np/prod/named"]]], profiles: ["pro/kns.prod"] },
        egress: { profiles: ["pro/kns.prod"] },
      },
    },
  },
};

// namespaceSelector (pcns. labels from kns.<ns> profiles), all(), global(), and notSelector.
const namespaces: State = {
  name: "namespaceSelector and global()",
  kvs: [
    nsProfile("prod", { env: "prod" }),
    nsProfile("dev", { env: "dev" }),
    wep("prod", "web", { ip: "10.0.0.1", labels: { app: "web" } }),
    wep("prod", "x", { node: "h2", ip: "10.0.0.5", labels: { app: "x" } }),
    wep("dev", "x", { node: "h2", ip: "10.0.9.5", labels: { app: "x" } }),
    hep("h2-eth0", { node: "h2", interfaceName: "eth0", expectedIPs: ["192.168.0.2"] }, { app: "x" }),
    gnetset("ext", ["198.51.100.0/24"], { app: "x" }),
    gnp("from-prod", {
      selector: "app == 'web'",
      ingress: [
        { action: "Allow", source: { namespaceSelector: "env == 'prod'" } },
        { action: "Allow", source: { namespaceSelector: "global()" } },
        { action: "Allow", source: { namespaceSelector: "all()", selector: "app == 'x'" } },
        { action: "Deny", source: { notSelector: "app == 'x'" } },
      ],
    }),
    np("prod", "x-from-prod", {
      selector: "app == 'web'",
      ingress: [
        { action: "Allow", source: { namespaceSelector: "env == 'prod'", selector: "app == 'x'" } },
        { action: "Deny", source: { notSelector: "app == 'x'" } },
      ],
    }),
  ],
  expected: {
    sets: {
      [sid("pcns.env == 'prod'")]: ["10.0.0.1/32", "10.0.0.5/32"],
      [sid("!has(projectcalico.org/namespace)")]: ["192.168.0.2/32", "198.51.100.0/24"],
      [sid("has(projectcalico.org/namespace) && app == 'x'")]: ["10.0.0.5/32", "10.0.9.5/32"],
      [sid("app == 'x'")]: ["10.0.0.5/32", "10.0.9.5/32", "192.168.0.2/32", "198.51.100.0/24"],
      [sid("pcns.env == 'prod' && app == 'x'")]: ["10.0.0.5/32"],
      [sid("projectcalico.org/namespace == 'prod' && !(app == 'x')")]: ["10.0.0.1/32"],
    },
    policies: {
      ...nsProfilePolicies("prod"),
      "gnp/from-prod": {
        ingress: [
          { action: "allow", match: { srcIpSets: [sid("pcns.env == 'prod'")] } },
          { action: "allow", match: { srcIpSets: [sid("!has(projectcalico.org/namespace)")] } },
          { action: "allow", match: { srcIpSets: [sid("has(projectcalico.org/namespace) && app == 'x'")] } },
          { action: "deny", match: { notSrcIpSets: [sid("app == 'x'")] } },
        ],
      },
      "np/prod/x-from-prod": {
        ingress: [
          { action: "allow", match: { srcIpSets: [sid("pcns.env == 'prod' && app == 'x'")] } },
          { action: "deny", match: { srcIpSets: [sid("projectcalico.org/namespace == 'prod' && !(app == 'x')")] } },
        ],
      },
    },
    weps: {
      [wepKey("prod", "web")]: {
        ingress: { tiers: [["default", "deny", ["gnp/from-prod", "np/prod/x-from-prod"]]], profiles: ["pro/kns.prod"] },
        egress: { profiles: ["pro/kns.prod"] },
      },
    },
  },
};

// Namespace labels change: the dev namespace becomes prod-like.
const namespacesRelabelled: State = {
  ...namespaces,
  name: "namespace relabelled",
  kvs: namespaces.kvs.map((kv) => (kv[0].endsWith("/profiles/kns.dev") ? nsProfile("dev", { env: "prod" }) : kv)),
  expected: {
    ...namespaces.expected,
    sets: {
      ...namespaces.expected.sets,
      [sid("pcns.env == 'prod'")]: ["10.0.0.1/32", "10.0.0.5/32", "10.0.9.5/32"],
      [sid("pcns.env == 'prod' && app == 'x'")]: ["10.0.0.5/32", "10.0.9.5/32"],
    },
  },
};

// Service accounts: names and selector (pcsa. labels from ksa.<ns>.<sa> profiles).
const serviceAccounts: State = {
  name: "serviceAccounts",
  kvs: [
    nsProfile("prod"),
    profile("ksa.prod.api", { labelsToApply: { "pcsa.team": "core" } }),
    wep("prod", "web", { ip: "10.0.0.1", labels: { app: "web" } }),
    wep("prod", "api", { node: "h2", ip: "10.0.0.7", labels: { app: "api" }, sa: "api" }),
    wep("prod", "other", { node: "h2", ip: "10.0.0.8", labels: { app: "api" }, sa: "other" }),
    np("prod", "from-api", { selector: "app == 'web'", ingress: [{ action: "Allow", source: { serviceAccounts: { names: ["api", "batch"] } } }] }),
    gnp("from-core", {
      selector: "app == 'web'",
      serviceAccountSelector: "",
      ingress: [{ action: "Allow", source: { serviceAccounts: { selector: "team == 'core'" } } }],
    }),
  ],
  expected: {
    sets: {
      [sid("projectcalico.org/namespace == 'prod' && projectcalico.org/serviceaccount in {'api', 'batch'}")]: ["10.0.0.7/32"],
      [sid("pcsa.team == 'core'")]: ["10.0.0.7/32"],
    },
    policies: {
      ...nsProfilePolicies("prod"),
      "np/prod/from-api": {
        ingress: [
          { action: "allow", match: { srcIpSets: [sid("projectcalico.org/namespace == 'prod' && projectcalico.org/serviceaccount in {'api', 'batch'}")] } },
        ],
      },
      "gnp/from-core": { ingress: [{ action: "allow", match: { srcIpSets: [sid("pcsa.team == 'core'")] } }] },
    },
    weps: {
      [wepKey("prod", "web")]: {
        ingress: { tiers: [["default", "deny", ["np/prod/from-api", "gnp/from-core"]]], profiles: ["pro/kns.prod"] },
        egress: { profiles: ["pro/kns.prod"] },
      },
    },
  },
};

// Profiles: labelsToApply inherited (own labels win, first profile wins); a missing profile denies.
const profiles: State = {
  name: "profile inheritance and a missing profile",
  kvs: [
    profile("frontend", { ingress: [{ action: "Allow", protocol: "TCP" }], labelsToApply: { layer: "front", app: "inherited" } }),
    profile("backend", { labelsToApply: { layer: "back" } }),
    wep("prod", "web", { ip: "10.0.0.1", labels: { app: "web" }, profiles: ["frontend", "backend"] }),
    wep("prod", "lost", { ip: "10.0.0.2", labels: { app: "lost" }, profiles: ["ghost"] }),
    gnp("front", { selector: "layer == 'front' && app == 'web'", ingress: [{ action: "Allow", source: { selector: "layer == 'front'" } }] }),
    gnp("inherited", { selector: "app == 'inherited'", ingress: [{ action: "Deny" }] }),
  ],
  expected: {
    sets: { [sid("layer == 'front'")]: ["10.0.0.1/32"] },
    policies: {
      "pro/frontend": { ingress: [{ action: "allow", match: { protocol: 6 } }] },
      "pro/backend": {},
      "pro/ghost": { ingress: [{ action: "deny", match: {} }], egress: [{ action: "deny", match: {} }] },
      "gnp/front": { ingress: [{ action: "allow", match: { srcIpSets: [sid("layer == 'front'")] } }] },
    },
    weps: {
      [wepKey("prod", "web")]: {
        ingress: { tiers: [["default", "deny", ["gnp/front"]]], profiles: ["pro/frontend", "pro/backend"] },
        egress: { profiles: ["pro/frontend", "pro/backend"] },
      },
      [wepKey("prod", "lost")]: { ingress: { profiles: ["pro/ghost"] }, egress: { profiles: ["pro/ghost"] } },
    },
  },
};

// The missing profile appears.
const profilesFound: State = {
  ...profiles,
  name: "the missing profile appears",
  kvs: [...profiles.kvs, profile("ghost", { egress: [{ action: "Allow" }] })],
  expected: { ...profiles.expected, policies: { ...profiles.expected.policies, "pro/ghost": { egress: [allow] } } },
};

// Host endpoints: normal, applyOnForward, preDNAT and doNotTrack policies.
const hostEndpoints: State = {
  name: "host endpoint policy kinds",
  kvs: [
    nsProfile("prod"),
    hep("h1-eth0", { interfaceName: "eth0", expectedIPs: ["192.168.0.1"], profiles: ["kns.prod"] }, { role: "gateway" }),
    hep("h1-all", { interfaceName: "*" }, { role: "host" }),
    wep("prod", "web", { ip: "10.0.0.1", labels: { app: "web" } }),
    gnp("ssh", { selector: "role == 'gateway'", ingress: [{ action: "Allow", protocol: "TCP", destination: { ports: [22] } }] }),
    gnp("fwd", { selector: "has(role)", applyOnForward: true, types: ["Ingress", "Egress"], egress: [{ action: "Allow" }] }),
    gnp("pre", { selector: "all()", preDNAT: true, applyOnForward: true, ingress: [{ action: "Deny", source: { nets: ["203.0.113.0/24"] } }] }),
    gnp("notrack", {
      selector: "role == 'gateway'",
      doNotTrack: true,
      applyOnForward: true,
      ingress: [{ action: "Allow", source: { selector: "role == 'host'" } }],
      egress: [{ action: "Allow" }],
    }),
  ],
  expected: {
    sets: { [sid("role == 'host'")]: [] },
    policies: {
      ...nsProfilePolicies("prod"),
      "gnp/ssh": { ingress: [{ action: "allow", match: { protocol: 6, dstPorts: [{ first: 22, last: 22 }] } }] },
      "gnp/fwd": { egress: [allow] },
      "gnp/pre": { ingress: [{ action: "deny", match: { srcNets: ["203.0.113.0/24"] } }] },
      "gnp/notrack": { ingress: [{ action: "allow", match: { srcIpSets: [sid("role == 'host'")] } }], egress: [allow] },
    },
    heps: {
      "h1-eth0": {
        normal: {
          ingress: { tiers: [["default", "deny", ["gnp/fwd", "gnp/ssh"]]], profiles: ["pro/kns.prod"] },
          egress: { tiers: [["default", "deny", ["gnp/fwd"]]], profiles: ["pro/kns.prod"] },
        },
        forward: { ingress: { tiers: [["default", "deny", ["gnp/fwd"]]] }, egress: { tiers: [["default", "deny", ["gnp/fwd"]]] } },
        preDnat: { ingress: { tiers: [["default", "pass", ["gnp/pre"]]] } },
        untracked: { ingress: { tiers: [["default", "pass", ["gnp/notrack"]]] }, egress: { tiers: [["default", "pass", ["gnp/notrack"]]] } },
      },
      "h1-all": {
        normal: { ingress: { tiers: [["default", "deny", ["gnp/fwd"]]] }, egress: { tiers: [["default", "deny", ["gnp/fwd"]]] } },
        forward: { ingress: { tiers: [["default", "deny", ["gnp/fwd"]]] }, egress: { tiers: [["default", "deny", ["gnp/fwd"]]] } },
        preDnat: { ingress: { tiers: [["default", "pass", ["gnp/pre"]]] } },
      },
    },
    weps: { [wepKey("prod", "web")]: { ingress: { profiles: ["pro/kns.prod"] }, egress: { profiles: ["pro/kns.prod"] } } },
  },
};

// Reference counting: two policies and two rules sharing a selector use one set.
const shared = (n: number): State => {
  const kvs = [
    wep("prod", "web", { ip: "10.0.0.1", labels: { app: "web" }, profiles: [] }),
    wep("prod", "db", { node: "h2", ip: "10.0.0.2", labels: { app: "db" }, profiles: [] }),
  ];
  const rule = { action: "Allow", source: { selector: "app == 'db'" } };
  if (n >= 1) kvs.push(gnp("one", { selector: "app == 'web'", ingress: [rule, { ...rule, protocol: "TCP" }] }));
  if (n >= 2) kvs.push(gnp("two", { selector: "app == 'web'", egress: [{ action: "Deny", destination: { selector: "app == 'db'" } }] }));
  const set = sid("app == 'db'");
  const policies: Record<string, object> = {};
  if (n >= 1)
    policies["gnp/one"] = {
      ingress: [
        { action: "allow", match: { srcIpSets: [set] } },
        { action: "allow", match: { protocol: 6, srcIpSets: [set] } },
      ],
    };
  if (n >= 2) policies["gnp/two"] = { egress: [{ action: "deny", match: { dstIpSets: [set] } }] };
  return {
    name: `shared selector x${n}`,
    kvs,
    expected: {
      sets: n ? { [set]: ["10.0.0.2/32"] } : {},
      policies,
      weps: {
        [wepKey("prod", "web")]: {
          ingress: { tiers: n >= 1 ? [["default", "deny", ["gnp/one"]]] : [] },
          egress: { tiers: n >= 2 ? [["default", "deny", ["gnp/two"]]] : [] },
        },
      },
    },
  };
};

// Overlapping IPs: two endpoints with the same address; the member stays until both go.
const overlap = (both: boolean): State => ({
  name: `overlapping IPs (${both ? "both" : "one"})`,
  kvs: [
    wep("prod", "web", { ip: "10.0.0.1", labels: { app: "web" }, profiles: [] }),
    wep("prod", "db1", { node: "h2", ip: "10.0.0.2", labels: { app: "db" }, profiles: [] }),
    ...(both ? [wep("prod", "db2", { node: "h3", ip: "10.0.0.2", labels: { app: "db" }, profiles: [] })] : []),
    gnp("one", { selector: "app == 'web'", ingress: [{ action: "Allow", source: { selector: "app == 'db'" } }] }),
  ],
  expected: {
    sets: { [sid("app == 'db'")]: ["10.0.0.2/32"] },
    policies: { "gnp/one": { ingress: [{ action: "allow", match: { srcIpSets: [sid("app == 'db'")] } }] } },
    weps: { [wepKey("prod", "web")]: { ingress: { tiers: [["default", "deny", ["gnp/one"]]] } } },
  },
});

// A local endpoint's labels change so that another policy applies; an endpoint moves host.
const relabel = (v: 1 | 2): State => ({
  name: `relabel ${v}`,
  kvs: [
    wep("prod", "web", { ip: "10.0.0.1", labels: { app: v === 1 ? "web" : "db" }, profiles: [] }),
    wep("prod", "mover", { node: v === 1 ? HOST : "h2", ip: "10.0.0.3", labels: { app: "db" }, profiles: [] }),
    gnp("web", { selector: "app == 'web'", ingress: [{ action: "Allow", source: { selector: "app == 'db'" } }] }),
    gnp("db", { selector: "app == 'db'", ingress: [{ action: "Deny" }] }),
  ],
  expected:
    v === 1
      ? {
          sets: { [sid("app == 'db'")]: ["10.0.0.3/32"] },
          policies: {
            "gnp/web": { ingress: [{ action: "allow", match: { srcIpSets: [sid("app == 'db'")] } }] },
            "gnp/db": { ingress: [{ action: "deny", match: {} }] },
          },
          weps: {
            [wepKey("prod", "web")]: { ingress: { tiers: [["default", "deny", ["gnp/web"]]] } },
            [wepKey("prod", "mover")]: { ingress: { tiers: [["default", "deny", ["gnp/db"]]] } },
          },
        }
      : {
          policies: { "gnp/db": { ingress: [{ action: "deny", match: {} }] } },
          weps: { [wepKey("prod", "web")]: { ingress: { tiers: [["default", "deny", ["gnp/db"]]] } } },
        },
});

// A policy with AssumeNeededOnEveryNode is sent (with its sets) though nothing local uses it.
const everyNode: State = {
  name: "AssumeNeededOnEveryNode",
  kvs: [
    wep("prod", "far", { node: "h2", ip: "10.0.0.9", labels: { app: "db" }, profiles: [] }),
    gnp("everywhere", {
      selector: "app == 'web'",
      performanceHints: ["AssumeNeededOnEveryNode"],
      ingress: [{ action: "Allow", source: { selector: "app == 'db'" } }],
    }),
  ],
  expected: {
    sets: { [sid("app == 'db'")]: ["10.0.0.9/32"] },
    policies: { "gnp/everywhere": { ingress: [{ action: "allow", match: { srcIpSets: [sid("app == 'db'")] } }] } },
  },
};

// Invalid values count as deletions.
const invalid: State = {
  name: "invalid values ignored",
  kvs: [
    wep("prod", "web", { ip: "10.0.0.1", labels: { app: "web" }, profiles: [] }),
    gnp("bad", { selector: "app == ", ingress: [{ action: "Allow" }] }),
    np("prod", "other.bad-name", { selector: "all()" }),
  ],
  expected: { weps: { [wepKey("prod", "web")]: {} } },
};

const config: State = {
  name: "FelixConfiguration",
  kvs: [
    felixConfig("default", {
      failsafeInboundHostPorts: [{ protocol: "TCP", port: 22 }],
      failsafeOutboundHostPorts: [],
      defaultEndpointToHostAction: "Accept",
      logActionRateLimit: "10/second",
    }),
    felixConfig(`node.h1`, { logPrefix: "tabby-drop", defaultEndpointToHostAction: "Return" }),
    felixConfig(`node.h2`, { logPrefix: "not-me" }),
  ],
  expected: {
    config: {
      failsafeInbound: [{ protocol: "tcp", port: 22 }],
      failsafeOutbound: [],
      defaultEndpointToHostAction: "return",
      logPrefix: "tabby-drop",
      logRateLimitPerSecond: 10,
    },
  },
};
const configDefaults: State = {
  name: "FelixConfiguration defaults",
  kvs: [],
  expected: {
    config: {
      defaultEndpointToHostAction: "drop",
      logPrefix: "calico-packet",
      logRateLimitPerSecond: 0,
      failsafeInbound: [
        { protocol: "tcp", port: 22 },
        { protocol: "udp", port: 68 },
        { protocol: "tcp", port: 179 },
        { protocol: "tcp", port: 2379 },
        { protocol: "tcp", port: 2380 },
        { protocol: "tcp", port: 5473 },
        { protocol: "tcp", port: 6443 },
        { protocol: "tcp", port: 6666 },
        { protocol: "tcp", port: 6667 },
      ],
    },
  },
};

const single = [
  k8sDefaultDeny,
  tiers,
  tiersReordered,
  egressAndNetsets,
  namedPorts,
  namespaces,
  namespacesRelabelled,
  serviceAccounts,
  profiles,
  profilesFound,
  hostEndpoints,
  shared(2),
  overlap(true),
  relabel(1),
  relabel(2),
  invalid,
  config,
  configDefaults,
];
for (const s of single) test(`state: ${s.name}`, () => runSequence([s]));

test("state: k8s with policy orders", () => runSequence([k8sOrdered]));
test("state: AssumeNeededOnEveryNode", () => runSequence([everyNode]));
test("sequence: AssumeNeededOnEveryNode then a local endpoint, then the hint dropped", () =>
  runSequence([
    everyNode,
    {
      name: "hint and local endpoint",
      kvs: [...everyNode.kvs, wep("prod", "web", { ip: "10.0.0.1", labels: { app: "web" }, profiles: [] })],
      expected: { ...everyNode.expected, weps: { [wepKey("prod", "web")]: { ingress: { tiers: [["default", "deny", ["gnp/everywhere"]]] } } } },
    },
    {
      name: "no hint, no local endpoint",
      kvs: [everyNode.kvs[0]!, gnp("everywhere", { selector: "app == 'web'", ingress: [{ action: "Allow", source: { selector: "app == 'db'" } }] })],
      expected: {},
    },
    everyNode,
  ]));
test("sequence: policy order and types change and back", () => runSequence([k8sDefaultDeny, k8sOrdered, k8sDefaultDeny]));
test("sequence: tiers reordered and back", () => runSequence([tiers, tiersReordered, tiers]));
test("sequence: namespace relabelled", () => runSequence([namespaces, namespacesRelabelled]));
test("sequence: missing profile appears", () => runSequence([profiles, profilesFound]));
test("sequence: shared selector refcounts (2 → 1 → 0 → 2)", () => runSequence([shared(2), shared(1), shared(0), shared(2)]));
test("sequence: overlapping IPs", () => runSequence([overlap(true), overlap(false), overlap(true)]));
test("sequence: relabel and move", () => runSequence([relabel(1), relabel(2), relabel(1)]));
test("sequence: config", () => runSequence([configDefaults, config, configDefaults]));
test("sequence: everything", () => runSequence([k8sDefaultDeny, hostEndpoints, namedPorts, EMPTY, egressAndNetsets, serviceAccounts, profiles, tiers, config]));
