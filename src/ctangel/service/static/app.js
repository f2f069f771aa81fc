// ctangel's browser UI: plain JavaScript, no dependencies, talks to /api only.
"use strict";

const POLL_MS = 1000;          // job status while one is queued or running
const LIST_POLL_MS = 3000;     // the job list while any job is queued or running
const PRELOAD = 3;             // slices fetched ahead and behind the current one
const PAGE = 10;               // slices moved by PgUp / PgDn

const $ = (id) => document.getElementById(id);
const state = {
  jobId: null, job: null, results: null, studies: [], study: null, index: 0,
  overlay: true, pollTimer: null, listTimer: null, cache: new Map(),
};

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) { showLogin(); throw new Unauthorized("sign in first"); }
  return response;
}

async function detail(response) {
  try { const body = await response.json(); return body.detail || response.statusText; }
  catch { return `${response.status} ${response.statusText}`; }
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

const percent = (x) => `${Math.round(100 * x)}%`;
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
function bytes(n) {
  const units = ["B", "KB", "MB", "GB"];
  let k = 0;
  while (n >= 1024 && k < units.length - 1) { n /= 1024; k += 1; }
  return `${n.toFixed(k ? 1 : 0)} ${units[k]}`;
}

// --- session ---------------------------------------------------------------------------------------

function showLogin() {
  stopTimers();
  $("app").hidden = true; $("logout").hidden = true; $("login").hidden = false;
  $("token").focus();
}

function showApp() {
  $("login").hidden = true; $("app").hidden = false; $("logout").hidden = false;
}

async function login(event) {
  event.preventDefault();
  $("login-error").textContent = "";
  const response = await fetch("/api/login", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: $("token").value.trim() }),
  });
  if (!response.ok) { $("login-error").textContent = await detail(response); return; }
  $("token").value = "";
  showApp();
  await refreshJobs();
}

async function logout() {
  await fetch("/api/logout", { method: "POST", credentials: "same-origin" });
  closeJob();
  showLogin();
}

function stopTimers() {
  clearTimeout(state.pollTimer); clearTimeout(state.listTimer);
  state.pollTimer = state.listTimer = null;
}

// --- upload ----------------------------------------------------------------------------------------

function upload(files) {
  if (!files.length) return;
  const form = new FormData();
  for (const file of files) form.append("file", file, file.name);
  const name = files.length === 1 ? files[0].name : `${files[0].name} (+${files.length - 1} more)`;
  $("upload-error").textContent = "";
  $("upload-status").hidden = false;
  $("upload-label").textContent = `Uploading ${name}`;
  $("upload-progress").value = 0; $("upload-percent").textContent = "0%";

  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/studies");
  xhr.withCredentials = true;
  xhr.upload.onprogress = (e) => {
    if (!e.lengthComputable) return;
    const f = e.loaded / e.total;
    $("upload-progress").value = f; $("upload-percent").textContent = percent(f);
    if (f >= 1) $("upload-label").textContent = `Checking ${name}`;
  };
  xhr.onerror = () => {
    $("upload-status").hidden = true;
    $("upload-error").textContent = "The upload failed (network error, or the server refused it as too large).";
  };
  xhr.onload = async () => {
    $("upload-status").hidden = true;
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status === 401) { showLogin(); return; }
    if (xhr.status !== 202) {
      $("upload-error").textContent = body.detail || `The server answered ${xhr.status}.`;
      return;
    }
    await refreshJobs();
    openJob(body.job_id);
  };
  xhr.send(form);
}

function setUpDrop() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => { upload([...e.target.files]); e.target.value = ""; });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (e) => upload([...e.dataTransfer.files]));
  // Dropping a file elsewhere must not navigate away from the app.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
}

// --- job list --------------------------------------------------------------------------------------

function statusText(job) {
  if (job.status === "queued") {
    return job.queue_position ? `queued (${job.queue_position} ahead)` : "queued (next)";
  }
  if (job.status === "running") return `running ${percent(job.progress)}`;
  return job.status;
}

function verdictText(job) {
  const s = job.summary;
  if (!s) return "";
  if (s.patients === 1) return s.positive_patients ? "POSITIVE" : "negative";
  return `${s.positive_patients}/${s.patients} patients positive`;
}

async function refreshJobs() {
  clearTimeout(state.listTimer);
  let response;
  try { response = await api("/api/jobs"); } catch (e) { if (e instanceof Unauthorized) return; throw e; }
  if (!response.ok) return;
  const { jobs } = await response.json();
  const list = $("job-list");
  list.replaceChildren(...jobs.map(jobItem));
  $("no-jobs").hidden = jobs.length > 0;
  if (jobs.some((j) => j.status === "queued" || j.status === "running")) {
    state.listTimer = setTimeout(refreshJobs, LIST_POLL_MS);
  }
}

function jobItem(job) {
  const verdict = verdictText(job);
  const positive = job.summary && job.summary.positive_patients > 0;
  const item = el("li", { class: `job ${job.job_id === state.jobId ? "current" : ""}`, "data-job": job.job_id },
    el("button", { class: "job-open", type: "button", onclick: () => openJob(job.job_id) },
      el("span", { class: "job-name" }, job.filename),
      el("span", { class: "job-line" },
        el("span", { class: `badge ${job.status}` }, statusText(job)),
        verdict ? el("span", { class: `verdict ${positive ? "pos" : "neg"}` }, verdict) : null),
      el("span", { class: "job-time muted" }, when(job.created))),
    el("button", {
      class: "ghost small delete", type: "button", title: "Delete this job and its files",
      "aria-label": `Delete ${job.filename}`, onclick: () => deleteJob(job),
    }, "Delete"));
  if (job.status === "running") {
    const bar = el("progress", { max: "1", class: "mini" }); bar.value = job.progress;
    item.querySelector(".job-open").append(bar);
  }
  return item;
}

async function deleteJob(job) {
  if (!confirm(`Delete "${job.filename}" and all its results?`)) return;
  const response = await api(`/api/jobs/${job.job_id}`, { method: "DELETE" });
  if (!response.ok && response.status !== 404) { alert(await detail(response)); return; }
  if (job.job_id === state.jobId) closeJob();
  await refreshJobs();
}

// --- one job ---------------------------------------------------------------------------------------

function closeJob() {
  clearTimeout(state.pollTimer);
  Object.assign(state, { jobId: null, job: null, results: null, studies: [], study: null, index: 0 });
  state.cache.clear();
  $("job-view").hidden = true; $("placeholder").hidden = false;
}

function openJob(jobId) {
  if (state.jobId !== jobId) {
    closeJob();
    state.jobId = jobId;
    $("placeholder").hidden = true; $("job-view").hidden = false; $("result").hidden = true;
    for (const li of $("job-list").children) li.classList.toggle("current", li.dataset.job === jobId);
  }
  pollJob();
}

async function pollJob() {
  const jobId = state.jobId;
  if (!jobId) return;
  let response;
  try { response = await api(`/api/jobs/${jobId}`); } catch { return; }
  if (jobId !== state.jobId) return;
  if (response.status === 404) { closeJob(); await refreshJobs(); return; }
  const job = await response.json();
  state.job = job;
  renderJobHead(job);
  if (job.status === "queued" || job.status === "running") {
    state.pollTimer = setTimeout(pollJob, POLL_MS);
  } else if (job.status === "done" && !state.results) {
    await loadResults(job);
    refreshJobs();
  } else {
    refreshJobs();
  }
}

function renderJobHead(job) {
  $("job-title").textContent = job.filename;
  const found = `${job.n_studies} ${job.n_studies === 1 ? "study" : "studies"}, ${job.n_slices} slices`;
  $("job-meta").textContent = `${found} · ${bytes(job.size_bytes)} · uploaded ${when(job.created)}`;
  const badge = $("job-state");
  badge.className = `badge ${job.status}`; badge.textContent = statusText(job);
  const active = job.status === "queued" || job.status === "running";
  $("job-progress-box").hidden = !active;
  if (active) {
    $("job-progress").value = job.progress;
    $("job-progress-percent").textContent = percent(job.progress);
    $("job-progress-label").textContent = job.status === "queued"
      ? "Waiting for a worker" : `Analysing ${job.n_slices} slices`;
  }
  $("job-error").textContent = job.status === "failed" ? `Failed: ${job.error}` : "";
}

async function loadResults(job) {
  const response = await api(`/api/jobs/${job.job_id}/results`);
  if (!response.ok) { $("job-error").textContent = await detail(response); return; }
  state.results = await response.json();
  const base = `/api/jobs/${job.job_id}/output`;
  $("dl-results").href = `${base}/results.json?download=1`;
  $("dl-report").href = `${base}/report.html?download=1`;
  $("dl-masks").href = `${base}/masks.zip?download=1`;
  state.studies = [];
  for (const patient of state.results.patients) {
    for (const study of patient.studies) {
      if (study.outputs && study.outputs.viewer) state.studies.push({ patient, study });
    }
  }
  renderVerdicts();
  renderWarnings(job);
  const select = $("study-select");
  select.replaceChildren(...state.studies.map((s, k) => el("option", { value: String(k) }, studyLabel(s))));
  select.parentElement.hidden = state.studies.length < 2;
  $("result").hidden = false;
  const first = Math.max(0, state.studies.findIndex((s) => s.study.positive));
  chooseStudy(first);
}

function studyLabel({ patient, study }) {
  const what = study.description || study.series_id;
  return `${patient.patient_id} · ${what} (${study.n_slices} slices)`;
}

function verdictBadge(positive) {
  return el("span", { class: `verdict ${positive ? "pos" : "neg"}` }, positive ? "POSITIVE" : "negative");
}

function renderVerdicts() {
  const box = $("verdicts");
  box.replaceChildren(...state.results.patients.map((patient) => {
    const studies = patient.studies.map((study) => {
      const k = state.studies.findIndex((s) => s.study === study);
      const involvement = (study.lung_involvement_percent != null
        ? ` · lesion ${study.lung_involvement_percent.toFixed(1)}% of lung` : "") + severityText(study);
      return el("li", { class: "study" },
        el("button", {
          class: "study-link", type: "button", title: "Show this study in the viewer",
          onclick: () => chooseStudy(k), ...(k < 0 ? { disabled: "" } : {}),
        }, study.description || study.series_id),
        el("div", { class: "study-line" }, verdictBadge(study.positive),
          el("span", { class: "muted" }, `${study.n_positive_slices} of ${study.n_slices} slices positive${involvement}`)));
    });
    return el("div", { class: `patient ${patient.positive ? "pos" : "neg"}` },
      el("div", { class: "patient-head" },
        el("span", { class: "patient-label" }, "Patient"),
        el("strong", {}, patient.patient_id), verdictBadge(patient.positive)),
      el("div", { class: "rule muted" }, patient.rule),
      el("ul", { class: "study-list" }, ...studies));
  }));
}

function renderWarnings(job) {
  const box = $("warnings");
  const errors = (state.results.errors || []).map((e) => `${e.input}: ${e.error}`);
  const lines = errors.length ? errors : job.warnings;
  box.hidden = lines.length === 0;
  box.replaceChildren(el("strong", {}, "Inputs not analysed:"), el("ul", {}, ...lines.map((l) => el("li", {}, l))));
}

// --- viewer ----------------------------------------------------------------------------------------

function chooseStudy(k) {
  if (k < 0 || k >= state.studies.length) return;
  state.study = state.studies[k];
  state.cache.clear();
  $("study-select").value = String(k);
  const { study } = state.study;
  const settings = state.results.settings || {};
  $("window-label").textContent = study.kind === "hu"
    ? `Lung window W${settings.window_width} / L${settings.window_level} HU` : "8-bit images as given";
  const slider = $("slider");
  slider.max = String(Math.max(0, study.slices.length - 1));
  renderTicks(study);
  renderTable(study);
  renderAnatomy(study);
  const firstPositive = study.slices.findIndex((s) => s.positive);
  showSlice(firstPositive >= 0 ? firstPositive : Math.floor(study.slices.length / 2));
}

// Per lung and per lobe (or zone) figures, from ctangel.anatomy: the score, the charts, the SEG download.
function severityText(study) {
  const a = study.anatomy;
  if (!a || a.severity_score == null) return "";
  return ` · CT severity score ${a.severity_score}/${a.severity_score_max} (${a.regions_method})`;
}

function renderAnatomy(study) {
  const box = $("anatomy");
  const base = `/api/jobs/${state.jobId}/output`;
  const outputs = study.outputs || {};
  const seg = $("dl-seg");
  seg.hidden = !outputs.dicom_seg;
  if (outputs.dicom_seg) seg.href = `${base}/${outputs.dicom_seg}?download=1`;
  const a = study.anatomy;
  box.hidden = !a;
  if (!a) { box.replaceChildren(); return; }
  const title = a.regions_method === "lobes" ? "Lobes (estimated from lung shape)"
    : a.regions_method === "zones" ? "Zones (thirds of each lung by height)" : "Right and left lung";
  const score = a.severity_score == null ? [] : [el("p", { class: "score" },
    el("strong", {}, `CT severity score ${a.severity_score} / ${a.severity_score_max}`))];
  const charts = (outputs.charts || []).map((path) => el("img", {
    class: "chart", src: `${base}/${path}`, alt: path.endsWith("regions.svg")
      ? "Percent of each region involved, with its score" : "Lesion area per slice, head to feet",
  }));
  box.replaceChildren(el("h3", {}, title), ...score, ...charts);
}

function renderTicks(study) {
  const n = Math.max(1, study.slices.length - 1);
  $("ticks").replaceChildren(...study.slices.filter((s) => s.positive).map((s) => {
    const tick = el("span", { class: "tick" }); tick.style.left = `${(100 * s.index) / n}%`; return tick;
  }));
}

function renderTable(study) {
  const body = $("slice-table").tBodies[0];
  body.replaceChildren(...study.slices.map((s, k) => el("tr", {
    class: s.positive ? "pos" : "", "data-k": String(k), onclick: () => showSlice(k),
  },
  el("td", {}, String(s.index)),
  el("td", {}, s.positive ? "positive" : "negative"),
  el("td", {}, s.lesion_probability.toFixed(3)),
  el("td", {}, String(s.lesion_area_px)))));
}

function sliceUrl(k) {
  const n = state.study.study.outputs.viewer.study;
  const index = state.study.study.slices[k].index;
  return `/api/jobs/${state.jobId}/studies/${n}/slices/${index}.png?overlay=${state.overlay ? 1 : 0}`;
}

function preload(k) {
  const slices = state.study.study.slices;
  for (let d = -PRELOAD; d <= PRELOAD; d += 1) {
    const j = k + d;
    if (j < 0 || j >= slices.length) continue;
    const url = sliceUrl(j);
    if (!state.cache.has(url)) { const img = new Image(); img.src = url; state.cache.set(url, img); }
  }
  if (state.cache.size > 8 * PRELOAD) {
    const keep = new Set([...Array(2 * PRELOAD + 1).keys()].map((d) => k - PRELOAD + d)
      .filter((j) => j >= 0 && j < slices.length).map(sliceUrl));
    for (const url of [...state.cache.keys()]) if (!keep.has(url)) state.cache.delete(url);
  }
}

function showSlice(k) {
  if (!state.study) return;
  const slices = state.study.study.slices;
  k = Math.min(Math.max(0, k), slices.length - 1);
  state.index = k;
  const s = slices[k];
  const img = $("slice-img");
  img.src = sliceUrl(k);
  img.alt = `Slice ${s.index}${state.overlay ? " with lesion overlay" : ""}`;
  $("slider").value = String(k);
  $("slice-caption").replaceChildren(
    el("span", {}, `Slice ${k + 1} / ${slices.length}`),
    el("span", { class: `verdict ${s.positive ? "pos" : "neg"}` }, s.positive ? "positive" : "negative"),
    el("span", {}, `p = ${s.lesion_probability.toFixed(3)} · ${s.lesion_area_px} px`));
  const rows = $("slice-table").tBodies[0].rows;
  for (const row of rows) row.classList.toggle("current", row.dataset.k === String(k));
  if (rows[k]) rows[k].scrollIntoView({ block: "nearest" });
  preload(k);
}

function setUpViewer() {
  $("slider").addEventListener("input", (e) => showSlice(Number(e.target.value)));
  $("study-select").addEventListener("change", (e) => chooseStudy(Number(e.target.value)));
  $("overlay").addEventListener("change", (e) => { state.overlay = e.target.checked; state.cache.clear(); showSlice(state.index); });
  $("frame").addEventListener("wheel", (e) => {
    if (!state.study) return;
    e.preventDefault();
    showSlice(state.index + (e.deltaY > 0 ? 1 : -1));
  }, { passive: false });
  document.addEventListener("keydown", (e) => {
    if (!state.study || $("result").hidden) return;
    const tag = e.target.tagName;
    if (tag === "INPUT" && e.target.type !== "checkbox" && e.target.type !== "range") return;
    if (tag === "SELECT" || tag === "TEXTAREA" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target.type === "range" && ["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End", "PageUp", "PageDown"].includes(e.key)) return;
    const last = state.study.study.slices.length - 1;
    const moves = {
      ArrowUp: -1, ArrowLeft: -1, ArrowDown: 1, ArrowRight: 1, PageUp: -PAGE, PageDown: PAGE,
    };
    if (e.key in moves) showSlice(state.index + moves[e.key]);
    else if (e.key === "Home") showSlice(0);
    else if (e.key === "End") showSlice(last);
    else if (e.key === "o" || e.key === "O") { $("overlay").click(); } else return;
    e.preventDefault();
  });
}

// --- start -----------------------------------------------------------------------------------------

async function start() {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("refresh").addEventListener("click", refreshJobs);
  setUpDrop();
  setUpViewer();
  const response = await fetch("/api/jobs", { credentials: "same-origin" });
  if (response.status === 401) { showLogin(); return; }
  showApp();
  await refreshJobs();
}

document.addEventListener("DOMContentLoaded", start);
