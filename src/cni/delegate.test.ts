import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseEnv, parseNetConf } from "./config.js";
import { execDelegateIpam } from "./delegate.js";
import { CniError } from "./errors.js";
import { hostCidr } from "./ipam-plugin.js";

test("hostCidr narrows to a host prefix in canonical form", () => {
  assert.equal(hostCidr("10.65.0.5/26"), "10.65.0.5/32");
  assert.equal(hostCidr("FD00:66:0:0::1/122"), "fd00:66::1/128");
  assert.throws(
    () => hostCidr("nope/32"),
    (e) => e instanceof CniError && e.cniCode === 6,
  );
});

test("delegated IPAM: found in CNI_PATH, fed the config and env, result and errors read back", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ttcn-delegate-"));
  try {
    await writeFile(
      join(dir, "ok-ipam"),
      `#!/bin/sh\nread -r conf\ncase "$conf" in *'"name":"n"'*) ;; *) exit 3;; esac\necho '{"cniVersion":"1.0.0","ips":[{"address":"10.1.2.3/24","gateway":"10.1.2.1"}]}'\n`,
    );
    await writeFile(join(dir, "bad-ipam"), `#!/bin/sh\necho '{"cniVersion":"1.0.0","code":11,"msg":"busy, try later"}'\nexit 1\n`);
    await chmod(join(dir, "ok-ipam"), 0o755);
    await chmod(join(dir, "bad-ipam"), 0o755);
    const env = parseEnv({ CNI_COMMAND: "ADD", CNI_CONTAINERID: "c", CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: `/nonexistent:${dir}` });
    const conf = (type: string) => parseNetConf(JSON.stringify({ cniVersion: "1.0.0", name: "n", type: "tabby", ipam: { type } }));
    assert.deepEqual(await execDelegateIpam("ADD", conf("ok-ipam"), env), { ips: [{ address: "10.1.2.3/24", gateway: "10.1.2.1" }] });
    await assert.rejects(execDelegateIpam("ADD", conf("bad-ipam"), env), (e) => e instanceof CniError && e.cniCode === 11 && /busy/.test(e.message));
    await assert.rejects(execDelegateIpam("ADD", conf("missing-ipam"), env), (e) => e instanceof CniError && e.cniCode === 7);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
