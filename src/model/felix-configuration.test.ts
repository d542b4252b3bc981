import { test } from "node:test";
import assert from "node:assert/strict";
import { validateResource } from "./validate.js";
import { ValidationError } from "./errors.js";

const felix = (spec: Record<string, unknown>) => ({ apiVersion: "projectcalico.org/v3", kind: "FelixConfiguration", metadata: { name: "default" }, spec });

function problems(spec: Record<string, unknown>): string[] {
  try {
    validateResource(felix(spec));
    return [];
  } catch (err) {
    assert.ok(err instanceof ValidationError);
    return err.errors.map((e) => `${e.path}: ${e.message}`);
  }
}

test("FelixConfiguration: the control-plane access selector must parse; natOutgoingExclusions IPPoolsOnly is refused", () => {
  assert.deepEqual(
    problems({ workloadControlPlaneAccessSelector: "projectcalico.org/namespace == 'routers'", natOutgoingExclusions: "IPPoolsAndHostIPs", logPrefix: "x" }),
    [],
  );
  assert.match(problems({ workloadControlPlaneAccessSelector: "role ==" }).join(), /^spec\.workloadControlPlaneAccessSelector: must be a valid selector/);
  assert.match(
    problems({ natOutgoingExclusions: "IPPoolsOnly" }).join(),
    /^spec\.natOutgoingExclusions: IPPoolsOnly is not supported: tabby never masquerades workload traffic to another node/,
  );
  assert.match(problems({ natOutgoingExclusions: 3 }).join(), /must be IPPoolsAndHostIPs, got/);
  // Fields tabby does not read are kept as written.
  assert.deepEqual(validateResource(felix({ bpfEnabled: false })).spec, { bpfEnabled: false });
});

test("FelixConfiguration: metrics and health fields are typed (they are honoured, src/health/config.ts); unsupported metric switches refused", () => {
  assert.deepEqual(
    problems({
      prometheusMetricsEnabled: true,
      prometheusMetricsHost: "0.0.0.0",
      prometheusMetricsPort: 9091,
      healthEnabled: false,
      healthHost: "::1",
      healthPort: 9099,
    }),
    [],
  );
  assert.match(problems({ prometheusMetricsEnabled: "yes" }).join(), /^spec\.prometheusMetricsEnabled: must be true or false, got/);
  assert.match(problems({ healthHost: "localhost" }).join(), /^spec\.healthHost: must be an IP address to listen on/);
  assert.match(problems({ prometheusMetricsPort: 0 }).join(), /^spec\.prometheusMetricsPort: must be a port 1-65535/);
  assert.match(problems({ healthPort: 70000 }).join(), /^spec\.healthPort: must be a port 1-65535/);
  assert.match(
    problems({ prometheusGoMetricsEnabled: false }).join(),
    /^spec\.prometheusGoMetricsEnabled: false is not honoured: tabby always exports its process metrics and cannot turn families off\. Remove prometheusGoMetricsEnabled or set it to true$/,
  );
  assert.deepEqual(problems({ prometheusProcessMetricsEnabled: true }), []);
});

test("FelixConfiguration: flowLogsEnabled and flowLogsFlushInterval are checked; Calico's other flow-log fields are refused by name", () => {
  assert.deepEqual(problems({ flowLogsEnabled: true, flowLogsFlushInterval: "15s" }), []);
  assert.match(problems({ flowLogsEnabled: "yes" }).join(), /^spec\.flowLogsEnabled: must be true or false/);
  assert.match(problems({ flowLogsFlushInterval: 15 }).join(), /^spec\.flowLogsFlushInterval: must be a duration/);
  assert.deepEqual(problems({ flowLogsGoldmaneServer: "goldmane:7443" }), [
    'spec.flowLogsGoldmaneServer: "goldmane:7443" is not honoured: tabby\'s flow logs are read with `tabby flows` (flowLogsEnabled, flowLogsFlushInterval; docs/observability.md). Remove flowLogsGoldmaneServer',
  ]);
});

test("FelixConfiguration: interfacePrefix is a comma-separated list of name prefixes (issue 20)", () => {
  assert.deepEqual(problems({ interfacePrefix: "tab,tap" }), []);
  assert.match(problems({ interfacePrefix: "tab,ta p" }).join(), /^spec\.interfacePrefix: interfacePrefix: "ta p" is not an interface name prefix/);
});

test("FelixConfiguration: the workload DHCP fields are IP addresses and a domain name (issue 20)", () => {
  assert.deepEqual(problems({ workloadDHCPDNSServers: ["10.0.0.53", "fd00::53"], workloadDHCPDomain: "lab.example" }), []);
  assert.match(problems({ workloadDHCPDNSServers: ["dns.example"] }).join(), /^spec\.workloadDHCPDNSServers: must be a list of IP addresses/);
  assert.match(problems({ workloadDHCPDomain: "a b" }).join(), /^spec\.workloadDHCPDomain: must be a DNS domain name/);
});
