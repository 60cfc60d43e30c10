package status

// pageCSS is the status page's only style sheet, inline so that the page is
// one response and the Content-Security-Policy can forbid everything else.
// It colours targets by health state and events by kind, and follows the
// system's dark mode.
const pageCSS markup = `:root{--bg:#f6f8fa;--card:#fff;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;
--ok:#1a7f37;--ok-bg:#dafbe1;--bad:#cf222e;--bad-bg:#ffebe9;--drain:#9a6700;--drain-bg:#fff8c5;
--init:#0969da;--init-bg:#ddf4ff;--other:#59636e;--other-bg:#eff2f5;--absent-bg:#fff;
--reg:#1a7f37;--reg-bg:#dafbe1;--dereg:#bc4c00;--dereg-bg:#fff1e5;--ref:#8250df;--ref-bg:#fbefff}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--card:#161b22;--fg:#e6edf3;--muted:#9198a1;--line:#30363d;
--ok:#3fb950;--ok-bg:#12261e;--bad:#f85149;--bad-bg:#2d1214;--drain:#d29922;--drain-bg:#272115;
--init:#58a6ff;--init-bg:#121d2f;--other:#9198a1;--other-bg:#1c2128;--absent-bg:#0d1117;
--reg:#3fb950;--reg-bg:#12261e;--dereg:#f0883e;--dereg-bg:#2b1a0e;--ref:#bc8cff;--ref-bg:#221a33}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{padding:12px 16px;background:#24292f;color:#fff}
header h1{margin:0;font-size:1.25rem}
header p{margin:4px 0 0;color:#d1d9e0;font-size:.85rem}
header a{color:#9ecbff}
main{padding:8px;max-width:1100px;margin:0 auto}
.binding{background:var(--card);border:1px solid var(--line);border-radius:8px;margin:8px 0;padding:12px}
h2{margin:0 0 4px;font-size:1.15rem;overflow-wrap:anywhere}
h3{margin:16px 0 6px;font-size:.78rem;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
.route{margin:0;color:var(--muted);font-size:.85rem;overflow-wrap:anywhere}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.muted{color:var(--muted)}
.counts{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0 0}
.count{border:1px solid var(--line);border-radius:999px;padding:1px 10px;font-size:.85rem;white-space:nowrap}
.count b{font-weight:700}
.badge{display:inline-block;border-radius:999px;padding:0 8px;font-size:.75rem;font-weight:600;vertical-align:middle;border:1px solid currentColor}
.b-ok{color:var(--ok)}.b-bad{color:var(--bad)}.b-ref{color:var(--ref)}.b-wait{color:var(--drain)}.b-unknown{color:var(--muted)}
.g-ok{color:#fff;background:var(--ok);border-color:var(--ok)}.g-warn{color:#000;background:var(--drain);border-color:var(--drain)}
.g-bad{color:#fff;background:var(--bad);border-color:var(--bad)}
.legend{font-size:.8rem;color:var(--muted);margin:4px 0 8px}.legend p{margin:4px 0}
.note{font-size:.85rem;color:var(--muted);margin:0 0 6px;overflow-wrap:anywhere}
.chart{margin:0}.chart svg{display:block;width:100%;height:90px;background:var(--other-bg);border-radius:4px}
.chart polyline{fill:none;stroke-width:2;vector-effect:non-scaling-stroke;stroke-linejoin:round}
.a-registered{fill:var(--init-bg);stroke:var(--init);stroke-width:1;vector-effect:non-scaling-stroke}.k-registered{border-color:var(--init);border-top-width:8px;opacity:.6}
.l-healthy,.k-healthy{stroke:var(--ok);border-color:var(--ok)}
.l-desired,.k-desired{stroke:var(--fg);border-color:var(--fg)}.l-desired{stroke-dasharray:5 4}.k-desired{border-top-style:dashed}
.chart line{stroke-width:2;vector-effect:non-scaling-stroke}
.m-answer,.k-answer{stroke:var(--ref);border-color:var(--ref)}.m-fail,.k-fail{stroke:var(--bad);border-color:var(--bad)}
.m-drain,.k-drain{stroke:var(--drain);border-color:var(--drain)}.m-answer,.m-fail,.m-drain{stroke-dasharray:3 3}
.key{display:inline-block;width:14px;height:0;border-top:3px solid;vertical-align:middle;margin:0 3px 0 8px}
.axis{display:flex;justify-content:space-between;font-size:.7rem;color:var(--muted)}
.bar{height:8px;border-radius:4px;background:var(--card);border:1px solid var(--drain);margin:3px 0;overflow:hidden;max-width:420px}
.bar span{display:block;height:100%;background:var(--drain)}
.bar-due span{background:var(--dereg)}.bar-blocked{border-color:var(--ref)}.bar-blocked span{background:var(--ref)}
.alert{border:1px solid var(--bad);background:var(--bad-bg);border-radius:6px;padding:8px;margin:8px 0;overflow-wrap:anywhere}
.alert b{color:var(--bad)}
.addrs{display:flex;flex-wrap:wrap;gap:4px 10px;margin:0}
.refused{color:var(--ref);font-size:.8rem;font-weight:600}.refused code{text-decoration:line-through}
ul{list-style:none;margin:0;padding:0}
.target{border-left:5px solid var(--other);background:var(--other-bg);padding:6px 8px;margin:4px 0;border-radius:4px}
.target .row{display:flex;flex-wrap:wrap;align-items:baseline;gap:2px 8px}
.state{font-weight:700;font-size:.85rem}
.s-healthy{border-color:var(--ok);background:var(--ok-bg)}.s-healthy .state{color:var(--ok)}
.s-unhealthy{border-color:var(--bad);background:var(--bad-bg)}.s-unhealthy .state{color:var(--bad)}
.s-draining{border-color:var(--drain);background:var(--drain-bg)}.s-draining .state{color:var(--drain)}
.s-initial{border-color:var(--init);background:var(--init-bg)}.s-initial .state{color:var(--init)}
.s-absent{border-style:dashed;border-color:var(--init);background:var(--absent-bg)}.s-absent .state{color:var(--init)}
.tag{font-size:.75rem;border-radius:4px;padding:0 6px;background:var(--card);border:1px solid var(--line)}
.t-want{color:var(--ok)}.t-gone{color:var(--bad)}
.az{font-size:.75rem;color:var(--muted)}
.reason{font-size:.85rem;overflow-wrap:anywhere;white-space:pre-wrap}
.pending{font-size:.85rem;color:var(--drain);font-weight:600;overflow-wrap:anywhere}
.event{border-left:5px solid var(--other);padding:6px 8px;margin:4px 0;background:var(--other-bg);border-radius:4px}
.e-register{border-color:var(--reg);background:var(--reg-bg)}.e-register .kind{color:var(--reg)}
.e-deregister{border-color:var(--dereg);background:var(--dereg-bg)}.e-deregister .kind{color:var(--dereg)}
.e-refused{border-color:var(--ref);background:var(--ref-bg)}.e-refused .kind{color:var(--ref)}
.e-drain{border-color:var(--drain);background:var(--drain-bg)}.e-drain .kind{color:var(--drain)}
.ehead{display:flex;flex-wrap:wrap;align-items:baseline;gap:2px 8px}
.kind{font-weight:700;font-size:.85rem;text-transform:uppercase;letter-spacing:.03em}
.rule{font-size:.8rem;font-weight:600}
time{font-size:.75rem;color:var(--muted)}
.err{font-size:.85rem;color:var(--bad);overflow-wrap:anywhere}
details summary{cursor:pointer;color:var(--muted);font-size:.85rem;padding:4px 0}
.policy{font-size:.8rem;color:var(--muted);margin:6px 0 0;overflow-wrap:anywhere}
@media (min-width:760px){main{padding:16px}.binding{padding:16px 20px}}
`
