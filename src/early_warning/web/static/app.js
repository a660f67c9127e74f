// early-warning workbench: sliders -> /api/score (the series alone) -> the history
// redrawn; the selected week's detail (/api/week) only when the week changes or a
// slider is let go, never on every move.
// No libraries and nothing from the network; text is set with textContent only.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  });
  let data = {};
  try {
    data = await response.json();
  } catch (err) {
    data = {}; // not JSON (a proxy's page): the status says enough
  }
  if (!response.ok) {
    // The server's reason, never only the status line.
    const err = new Error(data.error || data.message || response.status + " " + response.statusText);
    err.status = response.status;
    err.data = data;
    err.retryAfter = Number(response.headers.get("Retry-After")) || null;
    throw err;
  }
  return data;
}

// What to tell the analyst when a write did not land; the form keeps what was typed.
function notDone(err, action) {
  if (err.status === 503) {
    return "not " + action + ": " + err.message + " (your entry is kept: press the button again" +
      (err.retryAfter ? " in " + err.retryAfter + " s" : "") + ")";
  }
  return "not " + action + ": " + err.message;
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

// -- the workbench page --------------------------------------------------------------

const chart = document.getElementById("chart");
if (chart) {
  const timeline = JSON.parse(document.getElementById("timeline").textContent);
  const profile = document.getElementById("profile-name").value;
  const subject = document.getElementById("subject-name").value;
  const W = 900, H = 300, L = 40, R = 10, T = 10, B = 24;
  const n = timeline.dates.length;
  // The chart starts a year before the first week any profile could score.
  const firstScored = Math.max(0, timeline.first_scored - 52);
  const span = Math.max(1, n - 1 - firstScored);
  const x = (i) => L + ((i - firstScored) * (W - L - R)) / span;
  const y = (v) => T + ((100 - v) * (H - T - B)) / 100;
  const BAND_COLOURS = ["#e8f1e4", "#f3f0d7", "#fbe3c4", "#f7c9b5", "#eda7a7"];
  const BAND_NAMES = ["low", "guarded", "elevated", "high", "severe"];
  let selected = n - 1;
  let latest = null; // the last series answer: the line, the bands, the weeks changed

  function path(values) {
    let d = "", pen = false;
    values.forEach((v, i) => {
      if (v === null || i < firstScored) { pen = false; return; }
      d += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1);
      pen = true;
    });
    return d;
  }

  // One closed shape per run of weeks that have a band: a week without a score is a
  // gap, never bridged by a line from the week before it to the week after.
  function bandPolygon(low, high) {
    let d = "", upper = [], lower = [];
    const close = () => {
      if (upper.length) d += "M" + upper.join("L") + "L" + lower.reverse().join("L") + "Z";
      upper = [];
      lower = [];
    };
    low.forEach((lo, i) => {
      const hi = high[i];
      if (lo === null || hi === null || i < firstScored) { close(); return; }
      upper.push(x(i).toFixed(1) + " " + y(hi).toFixed(1));
      lower.push(x(i).toFixed(1) + " " + y(lo).toFixed(1));
    });
    close();
    return d;
  }

  function draw(result) {
    chart.replaceChildren();
    const edges = [0, ...result.bands, 100];
    for (let k = 0; k < 5; k++) {
      chart.append(svg("rect", { x: L, y: y(edges[k + 1]), width: W - L - R,
        height: y(edges[k]) - y(edges[k + 1]), fill: BAND_COLOURS[k] }));
      const label = svg("text", { x: W - R - 4, y: y((edges[k] + edges[k + 1]) / 2) + 3,
        "text-anchor": "end", class: "axis" });
      label.textContent = BAND_NAMES[k];
      chart.append(label);
    }
    for (const v of [0, 20, 40, 60, 80, 100]) {
      const t = svg("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end", class: "axis" });
      t.textContent = v;
      chart.append(t);
    }
    let lastYear = null;
    timeline.dates.forEach((d, i) => {
      if (i < firstScored) return;
      const year = d.slice(0, 4);
      if (year !== lastYear && d.slice(5, 7) === "01") {
        const t = svg("text", { x: x(i), y: H - 6, "text-anchor": "middle", class: "axis" });
        t.textContent = year;
        chart.append(t);
        lastYear = year;
      }
    });
    chart.append(svg("path", { d: bandPolygon(timeline.low, timeline.high), class: "mc", id: "mc-band" }));
    for (const e of timeline.events) {
      const i = timeline.dates.findIndex((d) => d >= e.date);
      if (i < firstScored) continue;
      const line = svg("line", { x1: x(i), x2: x(i), y1: T, y2: H - B, class: "event" });
      const title = svg("title", {});
      title.textContent = e.date + ": " + e.title;
      line.append(title);
      chart.append(line);
    }
    for (const i of result.band_changed.filter((k) => k >= firstScored)) {
      chart.append(svg("rect", { x: x(i) - 1, y: H - B - 4, width: 2, height: 4, class: "changed" }));
    }
    chart.append(svg("path", { d: path(timeline.saved), class: "saved" }));
    chart.append(svg("path", { d: path(result.score), class: "edited", id: "edited-line" }));
    chart.append(svg("line", { x1: x(selected), x2: x(selected), y1: T, y2: H - B, class: "cursor" }));
  }

  function scores(packed) {
    const bytes = Uint8Array.from(atob(packed), (c) => c.charCodeAt(0));
    return Array.from(new Float32Array(bytes.buffer), (v) => (Number.isNaN(v) ? null : v));
  }

  function bandOf(score, bands) {
    if (score === null) return "";
    return BAND_NAMES[bands.filter((b) => score >= b).length];
  }

  // The headline from the line itself while a slider moves (the detail follows).
  function headline(score, band) {
    document.getElementById("score").textContent = score === null ? "insufficient data" : score.toFixed(1);
    const node = document.getElementById("band");
    node.textContent = band || "";
    node.dataset.band = band || "";
  }

  function showSeries(result) {
    if (result.score_float32 !== undefined) result.score = scores(result.score_float32);
    latest = result;
    const score = result.score[selected];
    headline(score, bandOf(score, result.bands));
    document.getElementById("changed").textContent =
      result.band_changed.length + " week(s) in another band than under the saved profile";
    draw(result);
  }

  function showWeek(result) {
    const week = result.week;
    headline(week.score, week.band);
    document.getElementById("week-label").textContent = "week " + week.week + " (" + week.week_date + ")";
    document.getElementById("coverage").textContent = "coverage " + Math.round(week.coverage * 100) +
      "%" + (week.change === null ? "" : "; change on the week before " + week.change.toFixed(2));
    document.getElementById("hash").textContent = result.profile_hash;
    const body = document.querySelector("#contributions tbody");
    body.replaceChildren();
    for (const c of week.contributions) {
      const tr = el("tr");
      tr.append(el("td", c.indicator), el("td", c.display), el("td", c.risk.toFixed(2)),
        el("td", c.contribution.toFixed(2)));
      body.append(tr);
    }
  }

  function payload() {
    const body = { subject, profile, indicators: {}, families: {}, row: selected,
      aggregation: document.getElementById("aggregation").value,
      bands: [...document.querySelectorAll(".band-input")].map((b) => Number(b.value)) };
    // The weight each box last accepted: exactly what was typed (or slid to).
    for (const s of document.querySelectorAll("input.w")) {
      body[s.dataset.kind][s.dataset.id] = Number(boxOf(s).dataset.accepted);
    }
    return body;
  }

  // -- typed weights: sent exactly as typed, or refused where they were typed ------------

  const MAX_WEIGHT = Number(document.getElementById("weights").dataset.maxWeight);
  const boxOf = (s) => document.querySelector('input.wn[data-for="' + s.dataset.id + '"]');
  const noteOf = (s) => document.querySelector('.refused[data-note-for="' + s.dataset.id + '"]');

  // Why a typed weight cannot be used, or null: the server's own range, 0 to MAX_WEIGHT.
  function refusal(text) {
    const value = Number(text);
    if (text.trim() === "" || !Number.isFinite(value)) return "not a number";
    if (value < 0) return text + " is below 0";
    if (value > MAX_WEIGHT) return text + " is above " + MAX_WEIGHT;
    return null;
  }

  function accept(s, value) {
    const box = boxOf(s);
    box.dataset.accepted = String(value);
    box.removeAttribute("aria-invalid");
    noteOf(s).textContent = "";
  }

  function refusedBoxes() {
    return [...document.querySelectorAll("input.w")].filter((s) => boxOf(s).getAttribute("aria-invalid"));
  }

  // Coalesce: while a request runs, only the latest state is sent next. A run resolves
  // to true once its answer is shown.
  function coalesced(send) {
    let inFlight = false, again = false;
    return async function run() {
      if (inFlight) { again = true; return false; }
      inFlight = true;
      try {
        await send();
        return true;
      } catch (err) {
        document.getElementById("changed").textContent = "error: " + err.message;
        return false;
      } finally {
        inFlight = false;
        if (again) { again = false; run(); }
      }
    };
  }

  // A slider move: the series alone, the scores as base64 float32 (a third of the bytes
  // of a JSON list), no week detail.
  const rescore = coalesced(async () => {
    const body = Object.assign(payload(), { series: "float32", detail: false });
    delete body.row;
    showSeries(await post("/api/score", body));
  });
  // The selected week's detail: when the week changes, a slider is let go, or a box,
  // the aggregation or a band changes.
  const detail = coalesced(async () => {
    const box = document.getElementById("detail");
    box.dataset.state = "loading";
    showWeek(await post("/api/week", payload()));
    box.dataset.state = "ready";
  });
  const rescoreAll = () => Promise.all([rescore(), detail()]);

  for (const s of document.querySelectorAll("input.w")) {
    const number = boxOf(s);
    number.dataset.accepted = number.value;
    s.addEventListener("input", () => { number.value = s.value; accept(s, s.value); rescore(); });
    s.addEventListener("change", detail); // let go (or a key pressed): the weights settled
    number.addEventListener("change", () => {
      const why = refusal(number.value);
      if (why) {
        // Shown where it was typed; the weight in use stays the last one accepted.
        number.setAttribute("aria-invalid", "true");
        noteOf(s).textContent = "refused: " + why + " (a weight is from 0 to " + MAX_WEIGHT +
          "); " + s.dataset.id + " stays " + number.dataset.accepted;
        return;
      }
      const value = Number(number.value);
      if (value > Number(s.max)) s.max = String(value); // the slider reaches the typed value
      s.value = String(value);
      accept(s, number.value);
      rescoreAll();
    });
  }
  document.getElementById("aggregation").addEventListener("change", rescoreAll);
  for (const b of document.querySelectorAll(".band-input")) b.addEventListener("change", rescoreAll);
  chart.addEventListener("click", (event) => {
    const box = chart.getBoundingClientRect();
    const px = ((event.clientX - box.left) * W) / box.width;
    const week = Math.max(firstScored, Math.min(n - 1, firstScored + Math.round(((px - L) * span) / (W - L - R))));
    if (week === selected) return;
    selected = week;
    if (latest) showSeries(latest); // the cursor moves at once; the line is the same
    detail();
  });

  document.getElementById("run-backtest").addEventListener("click", async () => {
    const body = document.querySelector("#backtest tbody");
    body.replaceChildren(el("tr", "computing..."));
    try {
      const result = await post("/api/backtest", payload());
      body.replaceChildren();
      for (const h of result.horizons) {
        const tr = el("tr");
        const auc = (v) => (v.auc === null ? "n/a" : v.auc.toFixed(3));
        tr.append(el("td", h.weeks + " weeks"), el("td", auc(h.edited)), el("td", auc(h.saved)),
          el("td", h.edited.weeks + " (" + h.edited.event_weeks + ")"));
        body.append(tr);
      }
    } catch (err) {
      body.replaceChildren(el("tr", "error: " + err.message));
    }
  });

  document.getElementById("save-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = document.getElementById("save-result");
    const refused = refusedBoxes();
    if (refused.length) {
      out.textContent = "not saved: a box shows a refused weight (" +
        refused.map((s) => s.dataset.id + " " + boxOf(s).value).join(", ") +
        "); correct it or move its slider first";
      out.dataset.state = "error";
      return;
    }
    const body = Object.assign(payload(), {
      name: document.getElementById("save-name").value,
      mode: document.querySelector('input[name="mode"]:checked').value,
      author: document.getElementById("save-author").value,
      note: document.getElementById("save-note").value,
    });
    try {
      const result = await post("/api/profiles", body);
      out.textContent = "saved " + result.name + " (" + result.hash + ") as " + result.path +
        " in the models folder" + (result.changes.length ? ": " + result.changes.join("; ") : "");
      out.dataset.state = "saved";
    } catch (err) {
      out.textContent = notDone(err, "saved");
      out.dataset.state = err.status === 503 ? "busy" : "error";
    }
  });

  // Ready once the line and the week's detail are both shown.
  rescoreAll().then((shown) => { if (shown.every(Boolean)) document.body.dataset.state = "ready"; });
}

// -- the indicator page ------------------------------------------------------------------

const observeForm = document.getElementById("observe-form");
if (observeForm) {
  observeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = document.getElementById("observe-result");
    const body = { indicator: observeForm.dataset.indicator };
    for (const input of observeForm.querySelectorAll("input")) if (input.value) body[input.name] = input.value;
    const said = (result) => result.status + ": " + result.message +
      result.rejects.map((r) => " [" + r.field + ": " + r.reason + "]").join("");
    try {
      const result = await post("/api/observations", body);
      out.textContent = said(result);
      out.dataset.state = result.status;
    } catch (err) {
      if (err.data && err.data.status === "rejected") { // refused with its reasons
        out.textContent = said(err.data);
        out.dataset.state = "rejected";
        return;
      }
      out.textContent = notDone(err, "recorded");
      out.dataset.state = err.status === 503 ? "busy" : "error";
    }
  });
}
