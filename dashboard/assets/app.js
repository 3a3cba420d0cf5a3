// failpipe dashboard: one page, views addressed by the URL's hash (#/channel/orders/dead?reason=…),
// data from the JSON API under /api/. Every text that comes from a message is set with textContent
// (never as markup); elements are built with createElement. No framework, no network beyond /api/.
"use strict";

(function () {
  const TOKEN_KEY = "failpipe-dashboard-token";
  const POLL_MS = 5000;
  const RETRY_MS = 3000;
  const PAGE = 50;
  const FILTERS = ["errorType", "reason", "class", "group", "grep", "since", "until"];
  const FILTER_IDS = { errorType: "filter-error-type", reason: "filter-reason", class: "filter-class",
    group: "filter-group", grep: "filter-grep", since: "filter-since", until: "filter-until" };

  let info = { readOnly: true };
  let generation = 0;       // bumped on every route change: late answers of an old view are dropped
  let timers = [];
  let keptPanel = null;     // an action's panel carried over when its view reloads after the job

  // ---- DOM helpers -----------------------------------------------------------------------------

  // el("td", {testid: "count-ready", class: "num"}, "12"): attributes set one by one, children
  // appended as nodes; a string child becomes a text node.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    for (const child of children) append(node, child);
    return node;
  }
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    setAttrs(node, attrs);
    for (const child of children) append(node, child);
    return node;
  }
  function setAttrs(node, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "testid") node.setAttribute("data-testid", value);
      else if (key === "text") node.textContent = String(value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  function append(node, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) { child.forEach((c) => append(node, c)); return; }
    node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  const $ = (id) => document.getElementById(id);

  // ---- the API ---------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error) || ("HTTP " + status));
      this.status = status;
      this.kind = (body && body.kind) || "request";
    }
  }

  async function api(path, options) {
    let response;
    try {
      response = await fetch(path, Object.assign({ credentials: "same-origin", cache: "no-store" }, options || {}));
    } catch (e) {
      throw new ApiError(0, { error: "the dashboard server does not answer (" + e.message + ")", kind: "broker" });
    }
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }
  const get = (path, params) => api(path + query(params));
  function post(path, body) {
    return api(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Failpipe-Token": token() },
      body: JSON.stringify(body),
    });
  }
  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== "") q.set(k, v);
    const s = q.toString();
    return s ? "?" + s : "";
  }

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

  // ---- the banner: broker down, or a request refused -------------------------------------------

  function showBanner(error) {
    const banner = $("error-banner");
    if (error.kind === "broker") {
      banner.dataset.kind = "broker";
      banner.textContent = "broker unreachable — retrying (" + error.message.replace(/^broker unreachable: /, "") + ")";
    } else {
      banner.dataset.kind = "error";
      banner.textContent = error.message;
    }
    banner.hidden = false;
  }
  function hideBanner() { $("error-banner").hidden = true; }

  // ---- routing ---------------------------------------------------------------------------------

  // A bad % escape in a hand-edited or truncated link makes decodeURIComponent throw: the page
  // then shows "malformed link" instead of staying on "loading…".
  function parseRoute() {
    try {
      return parseHash();
    } catch (e) {
      if (e instanceof URIError) return { name: "malformed", params: {} };
      throw e;
    }
  }
  async function malformed() {
    throw new Error("malformed link (a bad % escape in the address): open the overview at #/");
  }
  function parseHash() {
    let hash = location.hash.replace(/^#/, "");
    if (hash.startsWith("token=")) return { name: "token", token: decodeURIComponent(hash.slice(6)) };
    if (!hash.startsWith("/")) hash = "/";
    const [path, search] = hash.split("?", 2);
    const params = Object.fromEntries(new URLSearchParams(search || ""));
    const parts = path.split("/").filter((p) => p !== "").map(decodeURIComponent);
    if (parts[0] === "channel" && parts.length >= 3) {
      const channel = parts[1];
      if (parts[2] === "dead") return { name: "dead", channel, params };
      if (parts[2] === "groups") return { name: "groups", channel, params };
      if (parts[2] === "explain") return { name: "explain", channel, params };
      if (parts[2] === "message" && parts.length >= 4) return { name: "message", channel, id: parts.slice(3).join("/"), params };
    }
    return { name: "overview", params };
  }
  function href(name, channel, params, id) {
    const c = encodeURIComponent(channel || "");
    let path = "#/";
    if (name === "dead") path = "#/channel/" + c + "/dead";
    else if (name === "groups") path = "#/channel/" + c + "/groups";
    else if (name === "explain") path = "#/channel/" + c + "/explain";
    else if (name === "message") path = "#/channel/" + c + "/message/" + encodeURIComponent(id);
    return path + query(params);
  }
  function filtersOf(params) {
    const f = {};
    for (const k of FILTERS) if (params[k]) f[k] = params[k];
    return f;
  }

  function route() {
    generation += 1;
    timers.forEach((t) => clearTimeout(t));
    timers = [];
    const r = parseRoute();
    if (r.name === "token") {
      sessionStorage.setItem(TOKEN_KEY, r.token);
      history.replaceState(null, "", location.pathname + "#/");
      updateTokenState();
      route();
      return;
    }
    const app = $("app");
    app.dataset.view = r.name;
    app.dataset.ready = "0";
    crumbs(r);
    const views = { overview, dead, groups, message, explain, malformed };
    load(views[r.name], r, generation);
  }

  // Runs a view's loader; while the broker (or the server) does not answer, shows the banner and
  // tries again every few seconds, then renders as soon as it answers.
  async function load(view, r, gen) {
    try {
      await view(r, gen);
      if (gen !== generation) return;
      hideBanner();
      $("app").dataset.ready = "1";
    } catch (e) {
      if (gen !== generation) return;
      if (e.status === 503 || e.status === 0) {
        showBanner(e);
        timers.push(setTimeout(() => { if (gen === generation) load(view, r, gen); }, RETRY_MS));
        return;
      }
      showBanner(e);
      const app = $("app");
      clear(app);
      app.appendChild(el("h1", { testid: "view-title" }, "error"));
      app.appendChild(el("p", { class: "error", testid: "view-error" }, e.message));
      if (r.channel && (r.name === "dead" || r.name === "groups")) {
        app.appendChild(filterForm(r.channel, r.name, filtersOf(r.params)));
        app.appendChild(el("a", { href: href(r.name, r.channel), testid: "filter-reset" }, "clear the filters"));
      }
      // A refused time to live (or class) stays in the form, to be corrected.
      if (r.channel && r.name === "explain") app.appendChild(explainForm(r.channel, explainParams(r.params)));
      app.dataset.ready = "1";
    }
  }

  function crumbs(r) {
    const nav = $("crumbs");
    clear(nav);
    nav.appendChild(el("a", { href: "#/" }, "overview"));
    if (r.channel) {
      nav.appendChild(el("span", {}, "›"));
      nav.appendChild(el("a", { href: href("dead", r.channel) }, r.channel));
    }
  }

  function title(text) { return el("h1", { testid: "view-title" }, text); }
  // Where a view's action panel goes: the one of the job that just ended (so its result stays on
  // screen above the refreshed rows), or a new one.
  function panelSlot() {
    const slot = keptPanel || el("div", { testid: "action-panel-slot" });
    keptPanel = null;
    return slot;
  }
  function render(...nodes) {
    const app = $("app");
    clear(app);
    for (const n of nodes) append(app, n);
  }

  // ---- overview --------------------------------------------------------------------------------

  async function overview(r, gen) {
    const [data, rates] = await Promise.all([get("/api/overview"), get("/api/rates").catch(() => null)]);
    if (gen !== generation) return;
    render(
      title("overview"),
      healthCard(data.health),
      channelsTable(data.channels, rates),
      runtimeCards(data));
    // Live: poll again; a failure shows the banner and the loader retries.
    timers.push(setTimeout(() => { if (gen === generation) load(overview, r, gen); }, POLL_MS));
  }

  function healthCard(health) {
    const reasons = [];
    for (const c of (health && health.components) || [])
      for (const reason of c.reasons || []) reasons.push(el("li", { testid: "health-reason" }, c.name + ": " + reason));
    const status = (health && health.status) || "unknown";
    return el("section", { class: "card", testid: "health" },
      el("strong", {}, "health: "),
      el("span", { class: "status-" + status, testid: "health-status" }, status),
      reasons.length ? el("ul", {}, reasons) : el("span", { class: "muted" }, " — nothing to report"));
  }

  function channelsTable(channels, rates) {
    // A runtime's dashboard also knows what its workers did: handled and failed per second.
    const throughput = !!(rates && rates.channels && Object.values(rates.channels).some((c) => c.handledPerSecond));
    const head = el("tr", {}, el("th", {}, "channel"), ["ready", "delayed", "reserved", "dead", "parked", "evicted"].map(
      (k) => el("th", { class: "num" }, k)), el("th", {}, "last minutes (ready, dead)"), el("th", {}, "dead/min"),
      throughput ? el("th", {}, "handled, failed /s") : null, el("th", {}, ""));
    const rows = channels.map((c) => el("tr", { testid: "channel-row", "data-channel": c.channel, class: c.dead > 0 ? "dead-nonzero" : "" },
      el("td", {}, el("a", { href: href("dead", c.channel), testid: "channel-link" }, c.channel)),
      el("td", { class: "num", testid: "count-ready" }, String(c.ready)),
      el("td", { class: "num", testid: "count-delayed" }, String(c.delayed)),
      el("td", { class: "num", testid: "count-reserved" }, String(c.reserved)),
      el("td", { class: "num dead", testid: "count-dead" }, String(c.dead)),
      el("td", { class: "num", testid: "count-parked" }, String(c.parked)),
      el("td", { class: "num", testid: "count-evicted" }, String(c.evicted)),
      el("td", {}, sparkline(c.channel, rates)),
      el("td", { class: "num", testid: "dead-rate" }, rates && rates.deadPerMinute && c.channel in rates.deadPerMinute
        ? rates.deadPerMinute[c.channel].toFixed(1) : "–"),
      throughput ? el("td", { class: "chart-cell" }, throughputChart(c.channel, rates)) : null,
      el("td", { class: "links" },
        el("a", { href: href("dead", c.channel), testid: "channel-link-dead" }, "dead letters"),
        el("a", { href: href("groups", c.channel), testid: "channel-link-groups" }, "groups"),
        el("a", { href: href("explain", c.channel), testid: "channel-link-explain" }, "explain"))));
    const table = el("table", { testid: "overview-table" }, el("thead", {}, head), el("tbody", {}, rows));
    return el("section", {}, el("h2", {}, "channels"),
      channels.length ? table : el("p", { class: "muted", testid: "no-channels" }, "no channels yet"));
  }

  // Ready+delayed (blue) and dead (red) over the samples the server kept, on one scale.
  function sparkline(channel, rates) {
    const W = 160, H = 32;
    const series = rates && rates.channels && rates.channels[channel];
    const chart = svg("svg", { class: "chart", width: W, height: H, viewBox: "0 0 " + W + " " + H,
      testid: "rate-chart", "data-channel": channel, "data-points": series ? series.dead.length : 0 });
    chart.appendChild(svg("line", { class: "axis", x1: 0, y1: H - 1, x2: W, y2: H - 1 }));
    if (!series || series.dead.length < 2) return chart;
    const ready = series.ready.map((v, i) => (v === null ? null : v + (series.delayed[i] || 0)));
    const max = Math.max(1, ...ready.filter((v) => v !== null), ...series.dead.filter((v) => v !== null));
    const line = (values, cls) => {
      const step = W / (values.length - 1);
      let d = "";
      let pen = false;
      values.forEach((v, i) => {
        if (v === null) { pen = false; return; }
        const x = (i * step).toFixed(1), y = (H - 2 - (v / max) * (H - 4)).toFixed(1);
        d += (pen ? "L" : "M") + x + " " + y + " ";
        pen = true;
      });
      if (d) chart.appendChild(svg("path", { class: cls, d }));
    };
    line(ready, "ready");
    line(series.dead, "dead");
    chart.appendChild(svg("title", {}, "max " + max + " over " + series.dead.length + " samples"));
    return chart;
  }

  // Handled (blue) and failed (red) per second between samples, and the last values as text.
  function throughputChart(channel, rates) {
    const W = 120, H = 32;
    const series = rates.channels[channel] || {};
    const handled = series.handledPerSecond || [];
    const failed = series.failedPerSecond || [];
    const chart = svg("svg", { class: "chart", width: W, height: H, viewBox: "0 0 " + W + " " + H,
      testid: "throughput-chart", "data-channel": channel, "data-points": handled.length });
    chart.appendChild(svg("line", { class: "axis", x1: 0, y1: H - 1, x2: W, y2: H - 1 }));
    const max = Math.max(1, ...handled.filter((v) => v !== null), ...failed.filter((v) => v !== null));
    const draw = (values, cls) => {
      if (values.length < 2) return;
      const step = W / (values.length - 1);
      let d = "", pen = false;
      values.forEach((v, i) => {
        if (v === null) { pen = false; return; }
        d += (pen ? "L" : "M") + (i * step).toFixed(1) + " " + (H - 2 - (v / max) * (H - 4)).toFixed(1) + " ";
        pen = true;
      });
      if (d) chart.appendChild(svg("path", { class: cls, d }));
    };
    draw(handled, "ready");
    draw(failed, "dead");
    const last = (a) => (a.length && a[a.length - 1] !== null ? a[a.length - 1].toFixed(1) : "–");
    return el("span", {}, chart, el("span", { class: "muted", testid: "throughput-now" }, " " + last(handled) + " / " + last(failed)));
  }

  function runtimeCards(data) {
    const breakers = data.breakers.length
      ? el("table", { testid: "breakers-table" }, el("thead", {}, el("tr", {}, ["breaker", "state", "openings", "rejected", "failures"].map((h) => el("th", {}, h)))),
          el("tbody", {}, data.breakers.map((b) => el("tr", { testid: "breaker-row", "data-breaker": b.name },
            el("td", {}, b.name), el("td", { testid: "breaker-state" }, b.state), el("td", { class: "num" }, String(b.openings)),
            el("td", { class: "num" }, String(b.rejected)), el("td", { class: "num" }, String(b.failures))))))
      : el("p", { class: "muted" }, data.runtime ? "no circuit breakers configured"
        : "breakers live in the worker processes: a worker's own dashboard (config dashboard.listen) shows their state");
    const budget = data.retryBudget.length
      ? el("table", { testid: "budget-table" }, el("thead", {}, el("tr", {}, ["channel", "use", "retries", "allowance", "exhausted"].map((h) => el("th", {}, h)))),
          el("tbody", {}, data.retryBudget.map((b) => el("tr", { testid: "budget-row", "data-channel": b.channel },
            el("td", {}, b.channel), el("td", { class: "num", testid: "budget-use" }, Math.round(b.use * 100) + "%"),
            el("td", { class: "num" }, String(b.retries)), el("td", { class: "num" }, String(b.allowance)),
            el("td", {}, b.exhausted ? "yes" : "no")))))
      : el("p", { class: "muted" }, data.runtime ? "no retry budget configured"
        : "the retry budget lives in the worker processes: a worker's own dashboard shows its use");
    return el("div", { class: "grid2" },
      el("section", {}, el("h2", {}, "circuit breakers"), breakers),
      el("section", {}, el("h2", {}, "retry budget"), budget));
  }

  // ---- dead letters ----------------------------------------------------------------------------

  async function dead(r, gen) {
    const filters = filtersOf(r.params);
    const offset = Math.max(0, parseInt(r.params.offset || "0", 10) || 0);
    // Paging by cursor: `cursor=` is where this page starts (the API's `next` of the page before),
    // `trail=` the cursors of the pages before it ("c" + cursor each, comma-separated), for
    // "previous"; `offset=` numbers the rows. A pasted `offset=` without a cursor pages by offset.
    const cursor = r.params.cursor;
    const trail = r.params.trail ? r.params.trail.split(",") : [];
    const page = await get("/api/dead", Object.assign({ channel: r.channel, offset, limit: PAGE, cursor }, filters));
    if (gen !== generation) return;
    const selected = new Set();
    const countLabel = el("span", { testid: "match-count", class: "muted" }, "counting…");
    const panel = panelSlot();
    const rows = page.items.map((d) => {
      const box = el("input", { type: "checkbox", testid: "dead-row-select", "data-id": d.id,
        onchange: (e) => { if (e.target.checked) selected.add(d.id); else selected.delete(d.id); } });
      return el("tr", { testid: "dead-row", "data-id": d.id },
        info.readOnly ? null : el("td", {}, box),
        el("td", { class: "mono" }, el("a", { href: href("message", r.channel, {}, d.id), testid: "dead-row-link" }, d.id)),
        el("td", { class: "mono", testid: "dead-time" }, d.time || "–"),
        el("td", { testid: "dead-reason" }, d.undecodable ? "undecodable" : d.reason),
        el("td", { testid: "dead-class" }, d.errorClass),
        el("td", { class: "mono", testid: "dead-error-type" }, d.errorType),
        el("td", { class: "msg", testid: "dead-error-message" }, d.errorMessage));
    });
    const selectAll = el("input", { type: "checkbox", testid: "select-all", title: "select every row of this page",
      onchange: (e) => {
        for (const box of document.querySelectorAll('[data-testid="dead-row-select"]')) {
          box.checked = e.target.checked;
          if (box.checked) selected.add(box.dataset.id); else selected.delete(box.dataset.id);
        }
      } });
    const head = el("tr", {}, info.readOnly ? null : el("th", {}, selectAll),
      ["id", "time", "reason", "class", "error type", "message"].map((h) => el("th", {}, h)));
    const table = el("table", { testid: "dead-table" }, el("thead", {}, head), el("tbody", {}, rows));
    const go = (o, at) => { location.hash = href("dead", r.channel, Object.assign({}, filters, o ? { offset: o } : {}, at || {})); };
    const previous = () => {
      if (!trail.length) { go(Math.max(0, offset - PAGE)); return; }
      const before = trail.slice(0, -1);
      go(Math.max(0, offset - PAGE), { cursor: trail[trail.length - 1].slice(1), trail: before.join(",") });
    };
    const next = () => {
      if (page.next === undefined) { go(offset + PAGE); return; }
      go(offset + PAGE, { cursor: page.next, trail: trail.concat(["c" + (cursor || "")]).join(",") });
    };
    const pager = el("div", { class: "pager" },
      el("button", { testid: "page-prev", disabled: offset === 0 && !trail.length, onclick: previous }, "‹ previous"),
      el("span", { testid: "page-info" }, page.items.length ? "rows " + (offset + 1) + "–" + (offset + page.items.length) : "no rows"),
      el("button", { testid: "page-next", disabled: !page.more, onclick: next }, "next ›"),
      countLabel,
      el("span", { class: "muted" }, " (page read in " + page.elapsedMs + " ms)"));
    const actions = info.readOnly ? null : el("div", { class: "actions", testid: "actions" },
      el("label", {}, "rate (msg/s) ", el("input", { type: "number", min: "0", step: "any", testid: "replay-rate", id: "replay-rate", placeholder: "max", size: 6 })),
      replayTargetInput(),
      el("button", { testid: "replay-selected", onclick: () => {
        if (!selected.size) { actionError(panel, "select rows first"); return; }
        startAction(panel, "replay", r.channel, { ids: [...selected] }, selected.size + " selected");
      } }, "replay selected"),
      el("button", { testid: "replay-matching", onclick: () => startAction(panel, "replay", r.channel, { filter: filters }, "every match of the filter") }, "replay all matching"),
      el("button", { class: "danger", testid: "purge-matching", onclick: () => startAction(panel, "purge", r.channel, { filter: filters }, "every match of the filter") }, "purge all matching"));
    render(
      title(r.channel + " — dead letters"),
      el("p", { class: "links" },
        el("a", { href: href("groups", r.channel, filters), testid: "link-groups" }, "group by cause"),
        el("a", { href: href("explain", r.channel), testid: "link-explain" }, "explain the pipeline")),
      filterForm(r.channel, "dead", filters),
      actions, panel, pager,
      page.items.length ? table : el("p", { class: "muted", testid: "no-rows" }, "no dead letters match"));
    // The last page knows the count; before it, counting scans the whole channel (seconds on a large
    // Redis channel, and work for the broker), so it is done only when asked for.
    if (!page.more && (offset === 0 || page.items.length > 0)) {
      countLabel.textContent = (offset + page.items.length) + " match";
    } else {
      clear(countLabel);
      countLabel.appendChild(el("button", { testid: "match-count-button", onclick: () => {
        countLabel.textContent = "counting…";
        get("/api/count", Object.assign({ channel: r.channel }, filters))
          .then((c) => { if (gen === generation) countLabel.textContent = c.count + " match"; })
          .catch((e) => { if (gen === generation) countLabel.textContent = "count failed: " + e.message; });
      } }, "count all matches"));
    }
  }

  function filterForm(channel, view, filters) {
    const input = (key, label, placeholder) => el("label", {}, label,
      el("input", { id: FILTER_IDS[key], testid: FILTER_IDS[key], value: filters[key] || "", placeholder: placeholder || "" }));
    const select = (key, label, options) => {
      const s = el("select", { id: FILTER_IDS[key], testid: FILTER_IDS[key] },
        options.map((o) => el("option", { value: o, selected: (filters[key] || "") === o }, o || "any")));
      return el("label", {}, label, s);
    };
    const apply = (e) => {
      e.preventDefault();
      const next = {};
      for (const k of FILTERS) {
        const v = $(FILTER_IDS[k]).value.trim();
        if (v) next[k] = v;
      }
      location.hash = href(view, channel, next);
    };
    return el("form", { class: "filters card", testid: "filters", onsubmit: apply },
      input("errorType", "error type", "std::runtime_error"),
      select("reason", "reason", ["", "failure", "poison", "max-deliveries", "pipeline-error", "settle-error", "expired"]),
      select("class", "class", ["", "transient", "permanent", "unknown"]),
      input("group", "group (fingerprint)"),
      input("grep", "message regex", "timeout after"),
      input("since", "since", "2h or 2026-03-01T10:00:00Z"),
      input("until", "until", "15m"),
      el("button", { type: "submit", class: "primary", testid: "filter-apply" }, "apply"),
      el("button", { type: "button", testid: "filter-clear", onclick: () => { location.hash = href(view, channel); } }, "clear"));
  }

  // ---- actions: dry run, confirmation, job progress, result ------------------------------------

  function actionError(slot, message) {
    clear(slot);
    slot.appendChild(el("div", { class: "panel" }, el("div", { class: "error", testid: "action-error" }, message)));
  }

  // Where a replay sends every message, named by the operator (the API's `to`); empty: each to its
  // origin, when the deployment knows that channel.
  function replayTargetInput() {
    return el("label", {}, " to channel ", el("input", { type: "text", testid: "replay-to", id: "replay-to", placeholder: "their origin", size: 14, autocomplete: "off" }));
  }

  // A replay to a channel of another shard group goes through the outbox of the dead letters' group
  // (the API's `throughOutbox`): its messages arrive only once a worker's relay publishes them.
  function outboxNote(r) {
    if (!r.throughOutbox) return "";
    return r.dryRun ? " (through the outbox of shard group " + JSON.stringify(r.throughOutbox) + ": the workers' relay would publish them)"
      : " (on their way through the outbox of shard group " + JSON.stringify(r.throughOutbox) + ": the workers' relay publishes them)";
  }

  async function startAction(slot, kind, channel, selection, label) {
    clear(slot);
    const body = Object.assign({ channel }, selection);
    const toInput = kind === "replay" ? $("replay-to") : null;
    if (toInput && toInput.value.trim()) body.to = toInput.value.trim();
    const panel = el("div", { class: "panel", testid: "action-panel", "data-kind": kind });
    slot.appendChild(panel);
    panel.appendChild(el("strong", {}, (kind === "replay" ? "replay " : "purge ") + label + " of " + channel + (body.to ? " to " + body.to : "")));
    const status = el("p", {}, "dry run…");
    panel.appendChild(status);
    let preview;
    try {
      preview = await post("/api/" + kind, Object.assign({}, body, { dryRun: true }));
    } catch (e) {
      panel.appendChild(el("div", { class: "error", testid: "action-error" }, e.message));
      return;
    }
    clear(status);
    const cancel = el("button", { testid: "action-cancel", onclick: () => clear(slot) }, "cancel");
    if (kind === "replay") {
      status.appendChild(el("span", { testid: "dry-run-count", "data-replay": preview.replayed, "data-park": preview.parked,
        "data-skip": preview.skipped, "data-refuse": preview.refused, "data-through-outbox": preview.throughOutbox },
        "would replay " + preview.replayed + ", park " + preview.parked +
        ", skip " + preview.skipped + ", refuse " + preview.refused + (preview.refused ? " (their origin is no channel this deployment knows)" : "") +
        outboxNote(preview)));
      const confirm = el("button", { class: "primary", testid: "replay-confirm", disabled: preview.matched === 0, onclick: async () => {
        confirm.disabled = true;
        const rateInput = $("replay-rate");
        const rate = rateInput && rateInput.value ? Number(rateInput.value) : null;
        run(panel, kind, Object.assign({}, body, rate ? { rate } : {}));
      } }, "replay " + preview.matched);
      panel.appendChild(el("div", { class: "actions" }, confirm, cancel));
    } else {
      status.appendChild(el("span", { testid: "dry-run-count", "data-purge": preview.matched }, "would delete " + preview.matched));
      const typed = el("input", { testid: "purge-confirm-input", placeholder: "type " + channel + " to confirm", autocomplete: "off" });
      const confirm = el("button", { class: "danger", testid: "purge-confirm", disabled: preview.matched === 0, onclick: () => {
        confirm.disabled = true;
        run(panel, kind, Object.assign({}, body, { confirm: typed.value }));
      } }, "delete " + preview.matched);
      panel.appendChild(el("div", { class: "actions" }, el("label", {}, "type the channel name ", typed), confirm, cancel));
    }
  }

  async function run(panel, kind, body) {
    const old = panel.querySelector('[data-testid="action-error"]');
    if (old) old.remove();
    const progress = el("progress", { testid: "job-progress", max: 1, value: 0, "data-state": "running", "data-done": 0, "data-total": 0 });
    const line = el("span", { class: "muted" }, " starting…");
    panel.appendChild(el("div", {}, progress, line));
    let job;
    try {
      job = (await post("/api/" + kind, body)).job;
    } catch (e) {
      progress.remove();
      line.remove();
      panel.appendChild(el("div", { class: "error", testid: "action-error" }, e.message));
      const again = panel.querySelector('[data-testid="replay-confirm"], [data-testid="purge-confirm"]');
      if (again) again.disabled = false;
      return;
    }
    const gen = generation;
    for (;;) {
      let state;
      try {
        state = await get("/api/job", { id: job });
      } catch (e) {
        line.textContent = " " + e.message + " — polling again";
        await sleep(1000);
        continue;
      }
      progress.max = Math.max(1, state.total);
      progress.value = state.done;
      progress.dataset.done = state.done;
      progress.dataset.total = state.total;
      progress.dataset.state = state.state;
      line.textContent = " " + state.done + " of " + state.total;
      if (state.state !== "running") { showResult(panel, kind, state, gen); break; }
      await sleep(400);
    }
    if (gen === generation) hideBanner();
  }

  function showResult(panel, kind, state, gen) {
    const r = state.result || {};
    const text = state.state === "done"
      ? (kind === "replay" ? "replayed " + r.replayed + ", parked " + r.parked + ", skipped " + r.skipped + ", refused " + r.refused + outboxNote(r)
        : "deleted " + r.removed + " of " + r.matched)
      : state.state + ": " + (state.error || "");
    panel.appendChild(el("div", { testid: "job-result", "data-state": state.state, "data-replayed": r.replayed,
      "data-parked": r.parked, "data-skipped": r.skipped, "data-refused": r.refused, "data-removed": r.removed, "data-through-outbox": r.throughOutbox, class: state.state === "done" ? "" : "error" }, text));
    panel.appendChild(el("button", { testid: "reload-view", onclick: () => route() }, "reload the view"));
    // The rows of a list changed: show them, keeping this result in view. (A message view stays as
    // it is: its message may be gone.)
    const view = $("app").dataset.view;
    if (gen === generation && state.state === "done" && (view === "dead" || view === "groups") && panel.parentNode) {
      keptPanel = panel.parentNode;
      route();
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // ---- groups ----------------------------------------------------------------------------------

  async function groups(r, gen) {
    const filters = filtersOf(r.params);
    const data = await get("/api/groups", Object.assign({ channel: r.channel }, filters));
    if (gen !== generation) return;
    const panel = panelSlot();
    const rows = data.groups.map((g) => el("tr", { testid: "group-row", "data-fingerprint": g.fingerprint },
      el("td", { class: "mono" }, el("a", { href: href("dead", r.channel, Object.assign({}, filters, { group: g.fingerprint })), testid: "group-link" }, g.fingerprint)),
      el("td", { class: "num", testid: "group-count" }, String(g.count)),
      el("td", { class: "mono", testid: "group-first-seen" }, g.firstSeen || "–"),
      el("td", { class: "mono", testid: "group-last-seen" }, g.lastSeen || "–"),
      el("td", { class: "mono", testid: "group-error-type" }, g.errorType),
      el("td", { class: "msg", testid: "group-sample" }, g.sampleMessage, " ",
        el("a", { href: href("message", r.channel, {}, g.sampleId), testid: "group-sample-link" }, "(sample)")),
      info.readOnly ? null : el("td", {}, el("button", { testid: "group-replay", onclick: () =>
        startAction(panel, "replay", r.channel, { filter: Object.assign({}, filters, { group: g.fingerprint }) }, "group " + g.fingerprint) }, "replay group"))));
    const head = el("tr", {}, ["group", "count", "first seen", "last seen", "error type", "sample"].map((h) => el("th", {}, h)), info.readOnly ? null : el("th", {}, ""));
    render(
      title(r.channel + " — groups"),
      el("p", { class: "links" }, el("a", { href: href("dead", r.channel, filters) }, "all dead letters")),
      filterForm(r.channel, "groups", filters),
      info.readOnly ? null : el("div", { class: "actions" },
        el("label", {}, "rate (msg/s) ", el("input", { type: "number", min: "0", step: "any", testid: "replay-rate", id: "replay-rate", placeholder: "max", size: 6 })),
        replayTargetInput()),
      panel,
      data.groups.length ? el("table", { testid: "groups-table" }, el("thead", {}, head), el("tbody", {}, rows))
        : el("p", { class: "muted", testid: "no-rows" }, "no dead letters match"));
  }

  // ---- one message -----------------------------------------------------------------------------

  async function message(r, gen) {
    const d = await get("/api/message", { channel: r.channel, id: r.id });
    if (gen !== generation) return;
    const panel = panelSlot();
    const field = (label, value) => [el("dt", {}, label), el("dd", { "data-field": label }, value === "" || value === undefined || value === null ? "–" : String(value))];
    const record = el("dl", { class: "record", testid: "detail-record" },
      field("id", d.id), field("channel", d.channel), field("original channel", d.originalChannel), field("handler", d.handler),
      field("reason", d.undecodable ? "undecodable bytes" : d.reason), field("error type", d.errorType),
      field("error class", d.errorClass), field("error message", d.errorMessage), field("fingerprint", d.fingerprint),
      field("time", d.time), field("attempts", d.attempts), field("replays", d.replays));
    const history = el("ol", { class: "timeline", testid: "detail-history" },
      (d.history || []).map((h) => {
        const v = (k) => (h && h[k] !== undefined && h[k] !== null ? (typeof h[k] === "string" ? h[k] : JSON.stringify(h[k])) : "–");
        return el("li", { testid: "history-entry", "data-action": v("action") },
          el("strong", {}, v("time")), " ", v("channel"), " — ", v("middleware"), " ", v("action"),
          h && h.delay !== undefined && h.action !== "dead-letter" ? " after " + v("delay") + " s" : "", el("br"),
          el("span", { class: "mono" }, v("errorType") + ": " + v("errorMessage")));
      }));
    const raw = d.raw ? el("section", {}, el("h2", {}, "raw bytes (" + d.raw.size + (d.raw.truncated ? ", truncated" : "") + ")"),
      el("pre", { testid: "detail-raw" }, d.raw.text + "\n\n" + d.raw.hex)) : null;
    const actions = info.readOnly ? null : el("div", { class: "actions" },
      el("button", { testid: "detail-replay", disabled: d.undecodable, onclick: () => startAction(panel, "replay", r.channel, { ids: [d.id] }, "message " + d.id) }, "replay this message"),
      el("button", { class: "danger", testid: "detail-purge", onclick: () => startAction(panel, "purge", r.channel, { ids: [d.id] }, "message " + d.id) }, "purge this message"));
    render(
      title(r.channel + " — message " + d.id),
      el("section", { class: "card", testid: "detail-panel", "data-id": d.id },
        record, actions, panel,
        el("h2", {}, "attempt history"),
        (d.history || []).length ? history : el("p", { class: "muted", testid: "detail-history-empty" }, "no history recorded"),
        raw,
        d.raw ? null : [el("h2", {}, "data"), el("pre", { testid: "detail-data" }, JSON.stringify(d.data, null, 2))],
        el("h2", {}, "metadata"),
        el("pre", { testid: "detail-metadata" }, JSON.stringify(d.metadata, null, 2))));
  }

  // ---- explain ---------------------------------------------------------------------------------

  // The class and time to live simulated, as the route gives them (the API's `class` and `ttl`).
  function explainParams(params) {
    return { class: params.class || "unknown", ttl: params.ttl || "" };
  }

  async function explain(r, gen) {
    const chosen = explainParams(r.params);
    const data = await get("/api/explain", { channel: r.channel, class: chosen.class, ttl: chosen.ttl });
    if (gen !== generation) return;
    const steps = el("ol", { class: "timeline", testid: "explain-steps" }, data.steps.map(explainStep));
    render(
      title(r.channel + " — failure pipeline"),
      explainForm(r.channel, chosen),
      data.configured ? null : el("p", { class: "muted" }, "(no --config given: the default pipeline, which dead-letters at once)"),
      timeline(data.steps),
      steps,
      explainOutcome(data.steps),
      data.breakers.length ? [el("h2", {}, "breakers"), el("ul", {}, data.breakers.map((b) => el("li", {}, b)))] : null,
      data.retryBudget.length ? [el("h2", {}, "retry budget"), el("ul", {}, data.retryBudget.map((b) => el("li", {}, b)))] : null);
  }

  // The error class and the time to live given at push (as `failpipe explain --ttl`: 90s, 15m, 2h,
  // 7d; empty: none). The class applies at once; the time to live when the form is sent.
  function explainForm(channel, chosen) {
    const apply = (e) => {
      if (e) e.preventDefault();
      location.hash = href("explain", channel, { class: $("explain-class").value, ttl: $("explain-ttl").value.trim() });
    };
    return el("form", { class: "filters card", testid: "explain-form", onsubmit: apply },
      el("label", {}, "every failure of class",
        el("select", { id: "explain-class", testid: "explain-class", onchange: () => apply() },
          ["unknown", "transient", "permanent"].map((c) => el("option", { value: c, selected: c === chosen.class }, c)))),
      el("label", {}, "time to live (at push)",
        el("input", { id: "explain-ttl", testid: "explain-ttl", value: chosen.ttl, placeholder: "none, or 90s, 15m, 2h, 7d",
          autocomplete: "off", "aria-describedby": "explain-ttl-help" })),
      el("button", { type: "submit", class: "primary", testid: "explain-apply" }, "show"),
      el("span", { id: "explain-ttl-help", class: "muted" }, "a retry due after the time to live finds the message expired: the worker's onExpired ends it"));
  }

  // A failure, or the delivery that found the message expired: its handler never ran, so it is no
  // failure; the worker dead-letters or drops it.
  function explainStep(s) {
    const attrs = { testid: "explain-step", "data-action": s.action, "data-delay": s.delay === null ? "" : s.delay,
      "data-expired": s.expired ? "true" : "false" };
    if (s.expired)
      return el("li", attrs, el("strong", {}, "delivery " + s.failure + ": expired"), " on ", s.channel, ": ", s.middleware, " → ",
        s.action, s.to ? " to " + s.to : "", el("span", { class: "muted" }, " at " + human(s.elapsed)),
        s.note ? el("div", { class: "muted" }, s.note) : null);
    return el("li", attrs,
      el("strong", {}, "failure " + s.failure), " on ", s.channel, ": ", s.middleware, " → ", s.action,
      s.to ? " to " + s.to : "", s.delay !== null && s.action !== "dead-letter" ? " after " + human(s.delay) + (s.jittered ? " (" + human(s.delayMin) + "–" + human(s.delayMax) + ")" : "") : "",
      el("span", { class: "muted" }, " at " + human(s.elapsed)), s.note ? el("div", { class: "muted" }, s.note) : null);
  }

  // As the CLI's closing line for an expiry: the failures counted without the expired delivery.
  function explainOutcome(steps) {
    const last = steps[steps.length - 1];
    if (!last || !last.expired) return null;
    const failures = steps.length - 1;
    const end = last.action === "dead-letter" ? "dead-lettered to " + last.to : "dropped";
    return el("p", { testid: "explain-outcome", "data-expired": "true" },
      "expired and " + end + " after " + failures + (failures === 1 ? " failure" : " failures"));
  }

  function human(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 1) return Math.round(seconds * 1000) + " ms";
    if (seconds < 120) return (Math.round(seconds * 10) / 10) + " s";
    if (seconds < 7200) return (Math.round(seconds / 6) / 10) + " min";
    if (seconds < 172800) return (Math.round(seconds / 360) / 10) + " h";
    return (Math.round(seconds / 8640) / 10) + " d";
  }

  // The schedule on a time axis: one dot per failure at the time it happens (a square root scale,
  // so that seconds and hours both show), coloured by what the pipeline did.
  function timeline(steps) {
    const W = 900, H = 90, L = 20, R = 20;
    const chart = svg("svg", { class: "explain", width: "100%", viewBox: "0 0 " + W + " " + H, testid: "explain-timeline", "data-steps": steps.length });
    chart.appendChild(svg("line", { class: "axis", x1: L, y1: 50, x2: W - R, y2: 50 }));
    if (!steps.length) return chart;
    const end = Math.max(1, ...steps.map((s) => s.elapsed + (s.delay || 0)));
    const x = (t) => L + Math.sqrt(Math.max(0, t) / end) * (W - L - R);
    const labels = new TimelineLabels(L, W - R);
    const last = steps.length - 1;
    const endLabel = steps[last].expired ? "expired at " : steps[last].action === "dead-letter" ? "dead letter at " : "";
    labels.place(x(steps[last].elapsed), endLabel + human(steps[last].elapsed), last > 0 ? "end" : "start");
    steps.forEach((s, i) => {
      const cx = x(s.elapsed);
      const what = s.expired ? "delivery " + s.failure + ": expired, " : "failure " + s.failure + ": ";
      chart.appendChild(svg("circle", { class: "step " + s.action + (s.expired ? " expired" : ""), cx: cx.toFixed(1), cy: 50, r: 6 },
        svg("title", {}, what + s.middleware + " " + s.action + (s.to ? " → " + s.to : "") + " at " + human(s.elapsed))));
      if (i < last) labels.place(cx, human(s.elapsed), i === 0 ? "start" : "middle");
    });
    labels.drawn.forEach((l) => chart.appendChild(svg("text", { x: l.x.toFixed(1), y: l.y, "text-anchor": l.anchor }, l.text)));
    return chart;
  }

  // Labels above and below the axis that never cover one another: failures at (nearly) the same
  // moment share one label, and a label with no free room is left out (the dot's tooltip has it).
  function TimelineLabels(left, right) {
    const CHAR = 7, GAP = 6, ROWS = [34, 76];
    this.drawn = [];
    const span = (x, text, anchor) => {
      const w = text.length * CHAR;
      const from = anchor === "start" ? x : anchor === "end" ? x - w : x - w / 2;
      return [Math.max(left - GAP, from), Math.min(right + GAP, from + w)];
    };
    this.place = (x, text, anchor) => {
      if (this.drawn.some((l) => l.text === text && Math.abs(l.x - x) < CHAR)) return;
      const [a, b] = span(x, text, anchor);
      for (const y of ROWS) {
        const free = this.drawn.every((l) => l.y !== y || b + GAP <= l.from || l.to + GAP <= a);
        if (free) { this.drawn.push({ x, y, text, anchor, from: a, to: b }); return; }
      }
    };
  }

  // Every view learns that the broker went away (and came back) within a few seconds, even one
  // that polls nothing: the banner says so, and a view whose load failed retries by itself.
  async function heartbeat() {
    try {
      await get("/api/broker");
      const banner = $("error-banner");
      if (!banner.hidden && banner.dataset.kind === "broker") hideBanner();
    } catch (e) {
      if (e.kind === "broker" || e.status === 0 || e.status === 503) showBanner(Object.assign(e, { kind: "broker" }));
    }
    setTimeout(heartbeat, POLL_MS);
  }

  // ---- start -----------------------------------------------------------------------------------

  function updateTokenState() {
    const state = $("token-state");
    if (state) state.textContent = token() ? "set" : "none: replays and purges will be refused";
  }

  async function start() {
    for (;;) {
      try {
        info = await get("/api/info");
        break;
      } catch (e) {
        showBanner(e);
        await sleep(RETRY_MS);
      }
    }
    hideBanner();
    $("read-only-marker").hidden = !info.readOnly;
    if (!info.readOnly) {
      const form = $("token-form");
      form.hidden = false;
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
        $("token-input").value = "";
        updateTokenState();
      });
      updateTokenState();
    } else {
      $("read-only-marker").setAttribute("data-read-only", "1");
    }
    window.addEventListener("hashchange", () => { keptPanel = null; route(); });
    route();
    setTimeout(heartbeat, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
