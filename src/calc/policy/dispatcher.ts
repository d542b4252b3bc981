/**
 * The dispatcher at the head of the graph (felix `dispatcher.Dispatcher` plus its
 * `endpointHostnameFilter`): decodes each datastore update (invalid values count as deletions)
 * and fans it out by resource kind to the stages registered for it. The local-endpoint filter
 * passes on only this host's endpoints, and turns an endpoint that moved away into a deletion.
 * Pure: no I/O.
 */
import { decodeUpdate, type Decoded, type EndpointData } from "./decode.js";

type Kind = Decoded["kind"];
type Handler<K extends Kind> = (d: Extract<Decoded, { kind: K }>) => void;

export class Dispatcher {
  private readonly handlers = new Map<Kind, ((d: Decoded) => void)[]>();

  register<K extends Kind>(kind: K, h: Handler<K>): void {
    let l = this.handlers.get(kind);
    if (!l) this.handlers.set(kind, (l = []));
    l.push(h as (d: Decoded) => void);
  }

  /** Returns false when the key is not one any stage reads. */
  onUpdate(key: string, value: string | object | undefined, owned?: boolean): boolean {
    const d = decodeUpdate(key, value, owned);
    if (!d) return false;
    const l = this.handlers.get(d.kind);
    if (!l) return false;
    for (const h of l) h(d);
    return true;
  }
}

/** Passes on the endpoints whose `node` is this host; others (and departures) as deletions. */
export class LocalEndpointFilter {
  private readonly local = new Set<string>();

  constructor(
    private readonly hostname: string,
    private readonly next: (key: string, ep: EndpointData | undefined) => void,
  ) {}

  onEndpoint(key: string, ep: EndpointData | undefined): void {
    if (ep && ep.node === this.hostname) {
      this.local.add(key);
      this.next(key, ep);
    } else if (this.local.delete(key)) {
      this.next(key, undefined);
    }
  }
}
