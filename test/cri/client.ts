/**
 * A minimal CRI (Kubernetes `runtime.v1`) client for tests: just the RuntimeService calls that
 * drive a pod sandbox's network (what kubelet does before any container starts). The proto below is
 * a hand-written subset of the CRI API (field numbers as in k8s.io/cri-api runtime/v1), loaded with
 * @grpc/proto-loader and spoken with @grpc/grpc-js over containerd's unix socket.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const PROTO = `syntax = "proto3";
package runtime.v1;
service RuntimeService {
  rpc Version(VersionRequest) returns (VersionResponse) {}
  rpc RunPodSandbox(RunPodSandboxRequest) returns (RunPodSandboxResponse) {}
  rpc StopPodSandbox(StopPodSandboxRequest) returns (StopPodSandboxResponse) {}
  rpc RemovePodSandbox(RemovePodSandboxRequest) returns (RemovePodSandboxResponse) {}
  rpc PodSandboxStatus(PodSandboxStatusRequest) returns (PodSandboxStatusResponse) {}
  rpc Status(StatusRequest) returns (StatusResponse) {}
}
message VersionRequest { string version = 1; }
message VersionResponse { string version = 1; string runtime_name = 2; string runtime_version = 3; string runtime_api_version = 4; }
enum Protocol { TCP = 0; UDP = 1; SCTP = 2; }
message PortMapping { Protocol protocol = 1; int32 container_port = 2; int32 host_port = 3; string host_ip = 4; }
message PodSandboxMetadata { string name = 1; string uid = 2; string namespace = 3; uint32 attempt = 4; }
message LinuxPodSandboxConfig { string cgroup_parent = 1; map<string, string> sysctls = 3; }
message PodSandboxConfig {
  PodSandboxMetadata metadata = 1;
  string hostname = 2;
  string log_directory = 3;
  repeated PortMapping port_mappings = 5;
  map<string, string> labels = 6;
  map<string, string> annotations = 7;
  LinuxPodSandboxConfig linux = 8;
}
message RunPodSandboxRequest { PodSandboxConfig config = 1; string runtime_handler = 2; }
message RunPodSandboxResponse { string pod_sandbox_id = 1; }
message StopPodSandboxRequest { string pod_sandbox_id = 1; }
message StopPodSandboxResponse {}
message RemovePodSandboxRequest { string pod_sandbox_id = 1; }
message RemovePodSandboxResponse {}
message PodSandboxStatusRequest { string pod_sandbox_id = 1; bool verbose = 2; }
message PodIP { string ip = 1; }
message PodSandboxNetworkStatus { string ip = 1; repeated PodIP additional_ips = 2; }
enum PodSandboxState { SANDBOX_READY = 0; SANDBOX_NOTREADY = 1; }
message PodSandboxStatus { string id = 1; PodSandboxMetadata metadata = 2; PodSandboxState state = 3; int64 created_at = 4; PodSandboxNetworkStatus network = 5; }
message PodSandboxStatusResponse { PodSandboxStatus status = 1; map<string, string> info = 2; }
message StatusRequest { bool verbose = 1; }
message RuntimeCondition { string type = 1; bool status = 2; string reason = 3; string message = 4; }
message RuntimeStatus { repeated RuntimeCondition conditions = 1; }
message StatusResponse { RuntimeStatus status = 1; map<string, string> info = 2; }
`;

export interface SandboxConfig {
  metadata: { name: string; uid: string; namespace: string; attempt?: number };
  hostname?: string;
  log_directory?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  port_mappings?: { protocol?: "TCP" | "UDP"; container_port: number; host_port: number; host_ip?: string }[];
  linux?: Record<string, unknown>;
}

type Call = (req: unknown, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

export class CriClient {
  private readonly svc: Record<string, Call> & grpc.Client;

  constructor(socket: string, scratchDir: string) {
    const file = join(scratchDir, "cri-runtime-v1-subset.proto");
    writeFileSync(file, PROTO);
    const def = protoLoader.loadSync(file, { keepCase: true, enums: String, longs: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } } };
    this.svc = new pkg.runtime.v1.RuntimeService(`unix://${socket}`, grpc.credentials.createInsecure()) as unknown as Record<string, Call> & grpc.Client;
  }

  private call<T>(method: string, req: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      const fn = this.svc[method]!.bind(this.svc);
      fn(req, (err, res) => (err ? reject(err) : resolve(res as T)));
    });
  }

  version() {
    return this.call<{ runtime_name: string; runtime_version: string }>("Version", { version: "v1" });
  }
  status() {
    return this.call<{ status: { conditions: { type: string; status: boolean; reason: string; message: string }[] } }>("Status", {});
  }
  async runPodSandbox(config: SandboxConfig): Promise<string> {
    return (await this.call<{ pod_sandbox_id: string }>("RunPodSandbox", { config })).pod_sandbox_id;
  }
  podSandboxStatus(id: string) {
    return this.call<{ status: { state: string; network: { ip: string; additional_ips: { ip: string }[] } | null }; info: Record<string, string> }>(
      "PodSandboxStatus",
      {
        pod_sandbox_id: id,
        verbose: true,
      },
    );
  }
  stopPodSandbox(id: string) {
    return this.call<unknown>("StopPodSandbox", { pod_sandbox_id: id });
  }
  removePodSandbox(id: string) {
    return this.call<unknown>("RemovePodSandbox", { pod_sandbox_id: id });
  }
  close(): void {
    this.svc.close();
  }
}
