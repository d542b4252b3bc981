/**
 * Policy scenarios the lab tests share (manifests for `tabby lab up --policy`): the same default
 * deny with one allow is checked by lab check, explained by `tabby explain`, and flow-logged.
 */

/** Ingress default-deny for every lab workload, and an allow from w1 to w2's named port (8080). */
export const DEFAULT_DENY = `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: default-deny, namespace: lab }
spec: { selector: all(), types: [Ingress] }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: allow-w1-to-w2, namespace: lab }
spec:
  selector: app == 'w2'
  ingress:
    - action: Allow
      protocol: TCP
      source: { selector: app == 'w1' }
      destination: { ports: [http-alt] }
`;
