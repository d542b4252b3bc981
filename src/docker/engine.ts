/**
 * The Docker engine API, as much as the driver needs (Docker Engine API v1.41, the version of
 * Debian's docker.io 20.10): a container's labels and a network's name and labels. Docker does not
 * hand a network driver the container's labels, so, as Calico's libnetwork plugin did, the driver
 * asks the engine: `GET /containers/json?all=1` until a container's network settings name the
 * endpoint (dockerd records the endpoint just after Join returns), and `GET /networks/<id>`.
 */
import { http } from "../node-http.js";
import type { DockerEngine } from "./driver.js";

interface ContainerSummary {
  Id: string;
  Names?: string[];
  Labels?: Record<string, string> | null;
  NetworkSettings?: { Networks?: Record<string, { EndpointID?: string; NetworkID?: string }> };
}

/** The container whose settings name `endpointId`. Pure. */
export function findContainer(list: ContainerSummary[], endpointId: string): { id: string; name: string; labels: Record<string, string> } | undefined {
  for (const c of list) {
    for (const n of Object.values(c.NetworkSettings?.Networks ?? {})) {
      if (n.EndpointID === endpointId) return { id: c.Id, name: (c.Names?.[0] ?? "").replace(/^\//, ""), labels: c.Labels ?? {} };
    }
  }
  return undefined;
}

export class EngineClient implements DockerEngine {
  constructor(
    private readonly socketPath: string,
    private readonly opts: { timeoutMs?: number; pollMs?: number; apiVersion?: string } = {},
  ) {}

  private get<T>(path: string): Promise<{ status: number; body: T | undefined }> {
    const v = this.opts.apiVersion ?? "v1.41";
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.socketPath, path: `/${v}${path}`, method: "GET" }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as T) : undefined });
          } catch (e) {
            reject(e as Error);
          }
        });
      });
      req.on("error", reject);
      req.end();
    });
  }

  async containerOfEndpoint(_networkId: string, endpointId: string) {
    const deadline = Date.now() + (this.opts.timeoutMs ?? 30_000);
    for (;;) {
      const r = await this.get<ContainerSummary[]>("/containers/json?all=1");
      const found = r.status === 200 && r.body ? findContainer(r.body, endpointId) : undefined;
      if (found) return found;
      if (Date.now() >= deadline) return undefined;
      await new Promise((res) => setTimeout(res, this.opts.pollMs ?? 100));
    }
  }

  async network(networkId: string) {
    const r = await this.get<{ Name: string; Labels?: Record<string, string> | null }>(`/networks/${encodeURIComponent(networkId)}`);
    if (r.status !== 200 || !r.body) return undefined;
    return { name: r.body.Name, labels: r.body.Labels ?? {} };
  }
}
