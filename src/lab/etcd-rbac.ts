/**
 * etcd authentication for the lab's etcd, one role per component, modelled on Calico's etcd RBAC
 * guidance (docs.tigera.io, "Calico key and path prefixes"): every component reads /calico/ and
 * writes only the prefixes it owns; users are the client certificates' Common Names (pki.ts).
 * tabby's own keys differ from Calico's in two places, both granted here: the agent's IPAM
 * garbage collector keeps its leader lease and state under /tabby/, and the CNI plugin creates
 * the namespace Profile (Calico's kube-controllers do). `root` exists only because etcd needs it
 * to enable authentication: its password is random and thrown away, and no certificate has CN
 * root, so nobody can act as root afterwards (the CA key stays in the lab dir, root-only). The
 * table is pure; `enableLabEtcdAuth` talks to etcd with the admin certificate before auth is on.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import etcd3 from "etcd3";
import { LAB_COMPONENTS, LAB_ETCD_USER, type LabComponent, type LabPki } from "./pki.js";

export interface Grant {
  prefix: string;
  access: "Read" | "Readwrite";
}

const R = "/calico/resources/v3/projectcalico.org/";

export const LAB_ETCD_ROLES: Record<LabComponent, Grant[]> = {
  agent: [
    { prefix: "/calico/", access: "Read" },
    { prefix: `${R}nodes/`, access: "Readwrite" }, // registers its Node
    { prefix: `${R}ippools/`, access: "Readwrite" }, // default pools when there are none
    { prefix: "/calico/ipam/v2/", access: "Readwrite" }, // IPAM garbage collection
    { prefix: "/tabby/", access: "Readwrite" }, // the collector's leader lease and state
    { prefix: "/calico/tabby/", access: "Readwrite" }, // the schema record an upgraded agent raises (datastore/schema.ts)
  ],
  cni: [
    { prefix: "/calico/", access: "Read" },
    { prefix: "/calico/ipam/v2/", access: "Readwrite" },
    { prefix: `${R}workloadendpoints/`, access: "Readwrite" },
    { prefix: `${R}profiles/`, access: "Readwrite" }, // the namespace's Profile
  ],
  admin: [
    { prefix: "/calico/", access: "Readwrite" },
    { prefix: "/tabby/", access: "Readwrite" },
  ],
};

export const roleName = (c: LabComponent) => `tabby-${c}`;

/** Creates the roles and users and turns authentication on; `endpoint` is an https:// URL. */
export async function enableLabEtcdAuth(endpoint: string, pki: LabPki): Promise<void> {
  const client = new etcd3.Etcd3({
    hosts: endpoint,
    credentials: { rootCertificate: readFileSync(pki.ca), certChain: readFileSync(pki.clients.admin.cert), privateKey: readFileSync(pki.clients.admin.key) },
  });
  const throwaway = () => randomBytes(24).toString("base64url");
  try {
    await client.role("root").create();
    await (await client.user("root").create(throwaway())).addRole("root");
    for (const c of LAB_COMPONENTS) {
      const role = await client.role(roleName(c)).create();
      for (const g of LAB_ETCD_ROLES[c]) await role.grant({ permission: g.access, range: etcd3.Range.prefix(g.prefix) });
      // certificate users: the password is never used
      await (await client.user(LAB_ETCD_USER[c]).create(throwaway())).addRole(roleName(c));
    }
    await client.auth.authEnable();
  } finally {
    client.close();
  }
}
