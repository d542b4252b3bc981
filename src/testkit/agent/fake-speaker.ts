/**
 * Test support for the agent: a BGP speaker stand-in that records what the agent asks of it and
 * can feed it learned routes, and `eventually` for state the agent reaches asynchronously. Not
 * used by tabby itself.
 */
import type { BgpPort, SpeakerOptions } from "../../agent/agent.js";
import type { DesiredPeer, OriginatedRoute } from "../../calc/host-desired.js";
import type { PeerStatus } from "../../bgp/speaker.js";

export class FakeSpeaker implements BgpPort {
  peers: DesiredPeer[] = [];
  originated: OriginatedRoute[] = [];
  started = false;
  stoppedWith: string | undefined;
  private listener: ((c: { prefix: string; nextHops: string[] }[]) => void) | undefined;
  /** Per-address session state for peerStatus (default Active). */
  states = new Map<string, string>();
  constructor(readonly opts: SpeakerOptions) {}
  peerStatus(): PeerStatus[] {
    return this.peers.map((p) => {
      const state = this.states.get(p.address) ?? "Active";
      return {
        address: p.address,
        asNumber: p.asNumber,
        state,
        established: state === "Established",
        prefixesReceived: 0,
        prefixesAccepted: 0,
        prefixesAdvertised: 0,
      };
    });
  }
  async start() {
    this.started = true;
  }
  async stop(reason?: string) {
    this.stoppedWith = reason ?? "";
  }
  setPeers(p: DesiredPeer[]) {
    this.peers = p;
  }
  setOriginated(r: OriginatedRoute[]) {
    this.originated = r;
  }
  onFibChange(l: (c: { prefix: string; nextHops: string[] }[]) => void) {
    this.listener = l;
  }
  /** As if BGP learned (or, with no next hops, lost) a route. */
  learn(prefix: string, nextHops: string[]) {
    this.listener?.([{ prefix, nextHops }]);
  }
}

/** Retries `check` (which throws until the state is reached) every 10 ms, `tries` times. */
export async function eventually(check: () => void, tries = 300): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      check();
      return;
    } catch (err) {
      if (i >= tries) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
