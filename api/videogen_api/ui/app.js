// The videogen page: plain JavaScript over the public REST routes and the job event stream; no build step.
"use strict";

const API = "/api/v1";
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const KEY_STORAGE = "videogen.apiKey";

// The reference's form fields per mode; the server checks them (and says what is wrong).
const COMMON = [
  ["prompt", "textarea", ""], ["negative_prompt", "textarea", ""],
];
const TUNING = [["fps", "number", 24], ["seed", "number", -1], ["guidance_scale", "number", 7.5, "0.1"],
  ["num_inference_steps", "number", 50]];
const FRAMED = [["num_frames", "number", 64], ["width", "number", 512], ["height", "number", 512]];
const MODES = {
  "text-to-video": { file: null, fields: [...COMMON, ...FRAMED, ...TUNING] },
  "image-to-video": { file: "image", accept: "image/jpeg,image/png", fields: [...COMMON, ...FRAMED, ...TUNING] },
  "video-to-video": { file: "video", accept: "video/*", fields: [...COMMON, ["strength", "number", 0.8, "0.05"], ...TUNING] },
};

let mode = "text-to-video";
const streams = new Map(); // job id -> AbortController of its event stream
const objectUrls = new Map(); // job id -> blob URLs to free when the row goes

function apiKey() { return sessionStorage.getItem(KEY_STORAGE) || ""; }
function authHeaders() { const key = apiKey(); return key ? { "X-API-Key": key } : {}; }

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON: keep the status line */ }
    throw new Error(message);
  }
  return response;
}

// --- the form -----------------------------------------------------------------------------------------------

function renderFields() {
  const spec = MODES[mode];
  const box = document.getElementById("fields");
  box.replaceChildren();
  if (spec.file) {
    box.append(field(spec.file, "file", null, null, spec.accept));
  }
  const numbers = document.createElement("div");
  numbers.className = "row";
  for (const [name, type, value, step] of spec.fields) {
    (type === "number" ? numbers : box).append(field(name, type, value, step));
  }
  box.append(numbers);
  for (const button of document.querySelectorAll("#modes button")) {
    button.classList.toggle("active", button.dataset.mode === mode);
  }
}

function field(name, type, value, step, accept) {
  const label = document.createElement("label");
  label.textContent = name.replaceAll("_", " ");
  const input = document.createElement(type === "textarea" ? "textarea" : "input");
  if (type !== "textarea") input.type = type;
  input.name = name;
  input.id = name;
  if (step) input.step = step;
  if (accept) input.accept = accept;
  if (value !== null && value !== undefined) input.value = value;
  if (name === "prompt" && mode === "text-to-video") input.required = true;
  if (type === "file") input.required = true;
  label.append(input);
  return label;
}

async function submit(event) {
  event.preventDefault();
  const error = document.getElementById("form-error");
  error.textContent = "";
  const form = event.target;
  const spec = MODES[mode];
  let body;
  let headers = {};
  if (spec.file) {
    body = new FormData();
    for (const element of form.elements) {
      if (!element.name) continue;
      if (element.type === "file") { if (element.files[0]) body.append(element.name, element.files[0]); }
      else if (element.value !== "") body.append(element.name, element.value);
    }
  } else {
    const json = {};
    for (const element of form.elements) {
      if (!element.name || element.value === "") continue;
      json[element.name] = element.type === "number" ? Number(element.value) : element.value;
    }
    body = JSON.stringify(json);
    headers = { "Content-Type": "application/json" };
  }
  const button = document.getElementById("submit");
  button.disabled = true;
  try {
    const created = await (await api(`${API}/generate/${mode}`, { method: "POST", body, headers })).json();
    const job = await (await api(`${API}/job/${created.job_id}`)).json();
    showJob(job, true);
    follow(job);
  } catch (err) {
    error.textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

// --- the job list -------------------------------------------------------------------------------------------

async function loadJobs() {
  const error = document.getElementById("jobs-error");
  error.textContent = "";
  try {
    const { jobs } = await (await api(`${API}/jobs?limit=30`)).json();
    for (const controller of streams.values()) controller.abort();
    streams.clear();
    for (const urls of objectUrls.values()) urls.forEach(URL.revokeObjectURL);
    objectUrls.clear();
    document.getElementById("jobs").replaceChildren();
    for (const job of jobs) {
      showJob(job, false);
      follow(job);
    }
  } catch (err) {
    error.textContent = err.message;
  }
}

function row(jobId) {
  return document.querySelector(`#jobs li[data-job-id="${CSS.escape(jobId)}"]`);
}

function showJob(job, newest) {
  let li = row(job.job_id);
  if (!li) {
    li = document.getElementById("job-template").content.firstElementChild.cloneNode(true);
    li.dataset.jobId = job.job_id;
    li.querySelector(".job-id").textContent = job.job_id;
    li.querySelector(".cancel").addEventListener("click", () => cancel(job.job_id));
    const list = document.getElementById("jobs");
    if (newest) list.prepend(li); else list.append(li);
  }
  const percent = job.status === "completed" ? 100 : (job.progress ? job.progress.percent : 0);
  li.dataset.status = job.status;
  li.dataset.terminal = String(TERMINAL.has(job.status));
  li.querySelector(".job-status").textContent = job.status;
  li.querySelector(".job-mode").textContent = `${job.mode}${job.model ? " · " + job.model : ""}`;
  li.querySelector(".job-message").textContent = job.message;
  li.querySelector("progress").value = percent;
  li.querySelector(".percent").textContent = `${percent} %`;
  if (job.status === "completed" && job.output_url && !li.querySelector("video")) {
    showVideo(li, job);
  }
}

// A video element cannot send the API key, so with a key the MP4 and poster are fetched and shown as blob URLs;
// without one the player streams the URL directly (and seeks with Range requests).
async function showVideo(li, job) {
  const video = document.createElement("video");
  video.controls = true;
  video.muted = true;
  video.loop = true;
  video.playsInline = true;
  video.preload = "auto";
  li.querySelector(".job-media").append(video);
  const urls = [];
  objectUrls.set(job.job_id, urls);
  const blobUrl = async (path) => {
    const url = URL.createObjectURL(await (await api(path)).blob());
    urls.push(url);
    return url;
  };
  try {
    video.poster = await blobUrl(`${API}/job/${job.job_id}/poster`);
  } catch (_) { /* no poster: the player shows the first frame once loaded */ }
  const src = apiKey() ? await blobUrl(job.output_url) : job.output_url;
  video.src = src;
  const download = li.querySelector(".download");
  download.href = src;
  download.download = job.output_path ? job.output_path.split("/").pop() : `${job.job_id}.mp4`;
  download.hidden = false;
}

async function cancel(jobId) {
  try {
    showJob(await (await api(`${API}/job/${jobId}`, { method: "DELETE" })).json(), false);
  } catch (err) {
    document.getElementById("jobs-error").textContent = err.message;
  }
}

// --- live events ----------------------------------------------------------------------------------------------

// fetch rather than EventSource, which cannot send the API key. Reconnects with Last-Event-ID, as EventSource
// would, until the job's terminal event.
async function follow(job) {
  if (TERMINAL.has(job.status) || streams.has(job.job_id)) return;
  const controller = new AbortController();
  streams.set(job.job_id, controller);
  let lastId = null;
  let done = false;
  while (!done && !controller.signal.aborted) {
    try {
      const headers = lastId === null ? {} : { "Last-Event-ID": lastId };
      const response = await api(`${API}/job/${job.job_id}/events`, { headers, signal: controller.signal });
      for await (const event of serverSentEvents(response.body)) {
        if (event.id) lastId = event.id;
        if (!event.data) continue;
        const shown = JSON.parse(event.data);
        showJob(shown, false);
        if (TERMINAL.has(shown.status)) { done = true; break; }
      }
    } catch (err) {
      if (controller.signal.aborted || /^No job/.test(err.message)) break;
    }
    if (!done) await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  if (streams.get(job.job_id) === controller) streams.delete(job.job_id);
}

async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { data: "" };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      if (line === "") {
        if (event.data || event.id) yield event;
        event = { data: "" };
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (name === "data") event.data += (event.data ? "\n" : "") + value;
        else if (name === "id" || name === "event") event[name] = value;
      }
    }
  }
}

// --- start ------------------------------------------------------------------------------------------------------

function showKeyState() {
  document.getElementById("key-state").textContent = apiKey() ? "key set for this session" : "";
}

document.getElementById("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("api-key");
  if (input.value) sessionStorage.setItem(KEY_STORAGE, input.value); else sessionStorage.removeItem(KEY_STORAGE);
  input.value = "";
  showKeyState();
  loadJobs();
});
document.getElementById("modes").addEventListener("click", (event) => {
  if (event.target.dataset.mode) { mode = event.target.dataset.mode; renderFields(); }
});
document.getElementById("generate-form").addEventListener("submit", submit);
document.getElementById("refresh").addEventListener("click", loadJobs);
renderFields();
showKeyState();
loadJobs();
