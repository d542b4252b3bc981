/**
 * The map's one page: plain HTML, one ES module and SVG, served as they are (no build step, no
 * library, nothing fetched from elsewhere at run time). The module polls the server's state
 * (/api/state, every second), lays hosts and routers out by rack, colours each BGP session
 * by its state, lists each host's prefixes and workloads (addresses, labels), and on two clicks
 * (source, then destination workload) shows `explain` between them (/api/explain).
 */
export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>tabby map</title>
<style>
  body { font: 13px system-ui, sans-serif; margin: 0; background: #fafafa; color: #222; }
  header { padding: 8px 16px; background: #263238; color: #eceff1; display: flex; gap: 24px; align-items: baseline; }
  header h1 { font-size: 16px; margin: 0; }
  #legend span { margin-right: 12px; }
  .up { color: #2e7d32; } .down { color: #c62828; } .other { color: #ef6c00; }
  svg { display: block; }
  .node rect { fill: #fff; stroke: #455a64; stroke-width: 1.5; rx: 6; }
  .node.down rect { stroke: #c62828; stroke-dasharray: 4 3; fill: #ffebee; }
  .node.router rect { fill: #eceff1; }
  .node text { font-size: 12px; }
  .node .name { font-weight: 600; }
  .node .prefix { font-size: 10px; fill: #546e7a; }
  line.session { stroke-width: 2.5; }
  line.session.established { stroke: #43a047; }
  line.session.down { stroke: #e53935; stroke-dasharray: 6 4; }
  line.session.unknown { stroke: #b0bec5; stroke-dasharray: 2 3; }
  .wl rect { fill: #e3f2fd; stroke: #1e88e5; rx: 4; cursor: pointer; }
  .wl.src rect { fill: #fff59d; } .wl.dst rect { fill: #ffcc80; }
  .wl text { font-size: 10px; pointer-events: none; }
  .rack { fill: none; stroke: #b0bec5; stroke-dasharray: 2 4; }
  .racklabel { fill: #78909c; font-size: 11px; }
  #explain { margin: 0 16px 16px; padding: 8px; background: #fff; border: 1px solid #cfd8dc; white-space: pre-wrap; font: 12px ui-monospace, monospace; min-height: 2em; }
</style>
</head>
<body>
<header><h1>tabby map</h1><span id="lab">connecting…</span><span id="legend"><span class="up">━ established</span><span class="down">┅ down</span><span style="color:#90a4ae">┈ router to router (not asked)</span></span><span>click a workload, then another: explain</span></header>
<svg id="map" xmlns="http://www.w3.org/2000/svg" width="1200" height="600"></svg>
<pre id="explain"></pre>
<script type="module" src="/app.js"></script>
</body>
</html>
`;

export const APP_JS = `// tabby map: draws /api/events states as SVG; no library.
const NS = "http://www.w3.org/2000/svg";
const svg = document.getElementById("map");
const out = document.getElementById("explain");
let picked = [];

function el(name, attrs, parent, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  parent.appendChild(e);
  return e;
}

export function layout(state) {
  const racks = [...new Set(state.nodes.filter((n) => n.rack).map((n) => n.rack))].sort();
  const groups = racks.length ? racks : ["all"];
  const colW = 340, pos = new Map();
  const top = state.nodes.filter((n) => n.kind === "router" && !n.rack);
  top.forEach((n, i) => pos.set(n.name, { x: (groups.length * colW) / 2 + (i - (top.length - 1) / 2) * 160, y: 40 }));
  groups.forEach((rack, ri) => {
    const inRack = (n) => (racks.length ? n.rack === rack : true);
    const tors = state.nodes.filter((n) => n.kind === "router" && n.rack && inRack(n));
    tors.forEach((n, i) => pos.set(n.name, { x: ri * colW + colW / 2 + (i - (tors.length - 1) / 2) * 165, y: 150 }));
    const hosts = state.nodes.filter((n) => n.kind === "host" && inRack(n));
    const hw = racks.length ? colW / Math.max(1, hosts.length) : colW;
    hosts.forEach((n, i) => pos.set(n.name, { x: racks.length ? ri * colW + hw * (i + 0.5) : colW * (i + 0.5), y: 270 }));
  });
  return { pos, racks, colW, width: Math.max(groups.length, state.nodes.filter((n) => n.kind === "host").length / (racks.length ? 1e9 : 1)) * colW };
}

function draw(state) {
  document.getElementById("lab").textContent = "lab " + state.lab + " (" + state.topology + "), " + state.at;
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const { pos, racks, colW } = layout(state);
  const hostsCount = state.nodes.filter((n) => n.kind === "host").length;
  const width = (racks.length ? racks.length : hostsCount) * colW + 20;
  const perHost = Math.max(1, ...state.nodes.filter((n) => n.kind === "host").map((h) => state.workloads.filter((w) => w.host === h.name).length));
  svg.setAttribute("width", String(Math.max(width, 600)));
  svg.setAttribute("height", String(360 + perHost * 58));
  racks.forEach((r, i) => {
    el("rect", { class: "rack", x: i * colW + 6, y: 110, width: colW - 12, height: 250 + perHost * 58 }, svg);
    el("text", { class: "racklabel", x: i * colW + 12, y: 124 }, svg, "rack " + r);
  });
  for (const s of state.sessions) {
    const a = pos.get(s.a), b = pos.get(s.b);
    if (!a || !b) continue;
    const line = el("line", { class: "session " + (s.unknown ? "unknown" : s.established ? "established" : "down"), x1: a.x, y1: a.y, x2: b.x, y2: b.y, "data-session": s.a + "|" + s.b, "data-state": s.state }, svg);
    el("title", {}, line, s.a + " ↔ " + s.b + ": " + s.state);
  }
  for (const n of state.nodes) {
    const p = pos.get(n.name);
    if (!p) continue;
    const g = el("g", { class: "node " + n.kind + (n.up ? "" : " down"), "data-node": n.name, "data-up": n.up, transform: "translate(" + (p.x - 75) + "," + (p.y - 18) + ")" }, svg);
    const lines = n.kind === "host" ? n.prefixes.length : 0;
    el("rect", { width: 150, height: 36 + lines * 12 }, g);
    el("text", { class: "name", x: 8, y: 15 }, g, n.name + (n.role ? " (" + n.role + ")" : "") + (n.up ? "" : " ✗"));
    el("text", { x: 8, y: 29 }, g, n.addrs.find((a) => !a.includes(":")) || "");
    n.prefixes.forEach((pr, i) => el("text", { class: "prefix", x: 8, y: 42 + i * 12 }, g, short(pr)));
    if (n.kind !== "host") continue;
    state.workloads.filter((w) => w.host === n.name).forEach((w, i) => {
      const wg = el("g", { class: "wl" + (picked[0] === w.name ? " src" : picked[1] === w.name ? " dst" : ""), "data-workload": w.name, transform: "translate(" + (p.x - 75) + "," + (p.y + 30 + lines * 12 + i * 58) + ")" }, svg);
      el("rect", { width: 150, height: 52 }, wg);
      el("text", { x: 6, y: 13 }, wg, w.name);
      el("text", { x: 6, y: 26 }, wg, w.addrs.find((a) => !a.includes(":")) || "");
      el("text", { x: 6, y: 38 }, wg, short(w.addrs.find((a) => a.includes(":")) || ""));
      const labels = Object.entries(w.labels).filter(([k]) => !k.includes("projectcalico.org/")).map(([k, v]) => k + "=" + v).join(" ");
      el("text", { x: 6, y: 49 }, wg, labels.slice(0, 28));
      el("title", {}, wg, w.name + "\\n" + w.addrs.join("\\n") + "\\n" + Object.entries(w.labels).map(([k, v]) => k + "=" + v).join("\\n"));
      wg.addEventListener("click", () => pick(w.name));
    });
  }
}

/** A long IPv6 address or prefix, shortened to fit a box (the full text is in the title). */
function short(a) { return a.length > 26 ? a.slice(0, 12) + "…" + a.slice(-12) : a; }

let last;
async function pick(name) {
  picked = picked.length >= 2 ? [name] : [...picked, name];
  if (last) draw(last);
  if (picked.length < 2) { out.textContent = "from " + picked[0] + " to …"; return; }
  out.textContent = "explain " + picked[0] + " → " + picked[1] + " …";
  const r = await fetch("/api/explain?src=" + encodeURIComponent(picked[0]) + "&dst=" + encodeURIComponent(picked[1]));
  out.textContent = await r.text();
}

// polling (not server-sent events): every answer is a whole state, and a page that has no request
// open all the time lets a headless browser's virtual clock run (the map's browser test).
let lastJson = "";
async function poll() {
  try {
    const r = await fetch("/api/state", { cache: "no-store" });
    const text = await r.text();
    if (r.ok && text !== lastJson) {
      const first = !last;
      lastJson = text; last = JSON.parse(text); draw(last);
      // a link to an explanation: #explain=SRC,DST (what two clicks do)
      const m = /^#explain=([^,]+),(.+)$/.exec(decodeURIComponent(location.hash));
      if (first && m) { picked = [m[1]]; pick(m[2]); }
    }
    else if (!r.ok) document.getElementById("lab").textContent = "error: " + text;
  } catch { document.getElementById("lab").textContent = "reconnecting…"; }
  setTimeout(poll, 1000);
}
poll();
`;
