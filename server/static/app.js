// ClipQueue's page: a client of the public JSON API (see /openapi.json). No framework, no build.
"use strict";

const STORE = "clipqueue.videos";
const $ = (id) => document.getElementById(id);
let polling = null;
let shownClipsFor = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function clock(seconds) {
  const s = Math.max(0, Number(seconds) || 0);
  const m = Math.floor(s / 60);
  return `${m}:${(s - m * 60).toFixed(1).padStart(4, "0")}`;
}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new Error("the server did not answer; check your connection and try again");
  }
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("application/json") ? await response.json() : null;
  if (!response.ok) {
    const message = body && body.error ? body.error.message : `the server answered ${response.status}`;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return body;
}

// ---------------------------------------------------------------- my videos (localStorage)
function mine() {
  try { return JSON.parse(localStorage.getItem(STORE)) || []; } catch (err) { return []; }
}

function remember(token, url) {
  const list = mine().filter((v) => v.token !== token);
  list.unshift({ token, url, at: new Date().toISOString() });
  localStorage.setItem(STORE, JSON.stringify(list.slice(0, 50)));
  renderMine();
}

function renderMine() {
  const list = $("mine");
  list.replaceChildren();
  const videos = mine();
  if (!videos.length) list.append(el("li", { class: "muted", text: "None yet." }));
  for (const video of videos) {
    const link = el("a", { href: `#${video.token}`, text: video.url });
    list.append(el("li", {}, link, " ", el("span", { class: "muted", text: new Date(video.at).toLocaleString() })));
  }
}

// ---------------------------------------------------------------- submit
async function submit(event) {
  event.preventDefault();
  const error = $("form-error");
  error.hidden = true;
  const url = $("url").value.trim();
  if (!url) {
    error.textContent = "Enter the URL of a video, or pick a file.";
    error.hidden = false;
    $("url").focus();
    return;
  }
  const body = { url, clip_min_seconds: Number($("clip-min").value), clip_max_seconds: Number($("clip-max").value),
                 max_clips: Number($("max-clips").value), aspect: $("aspect").value, captions: $("captions").value };
  $("submit-button").disabled = true;
  try {
    const accepted = await api("/public/video", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    remember(accepted.token, url);
    location.hash = accepted.token;
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
  } finally {
    $("submit-button").disabled = false;
  }
}

// ---------------------------------------------------------------- upload (tus, resumable)
function chunkSize() {
  // ?chunk_mb=N: smaller chunks for slow or flaky connections (each chunk resumes on its own)
  const mb = Number(new URLSearchParams(location.search).get("chunk_mb"));
  return (mb > 0 ? mb : 8) * 1024 * 1024;
}

function uploadFile(file) {
  const error = $("form-error");
  error.hidden = true;
  if (!file) return;
  if (typeof tus === "undefined" || !tus.isSupported) {
    error.textContent = "This browser cannot upload files resumably; give a URL instead.";
    error.hidden = false;
    return;
  }
  const progress = $("upload-progress");
  const status = $("upload-status");
  let token = null;
  progress.hidden = false;
  progress.value = 0;
  status.textContent = `Uploading ${file.name}…`;
  const upload = new tus.Upload(file, {
    endpoint: "/public/uploads",
    chunkSize: chunkSize(),
    retryDelays: [0, 1000, 3000, 5000, 10000],
    metadata: { filename: file.name, clip_min_seconds: $("clip-min").value, clip_max_seconds: $("clip-max").value,
                max_clips: $("max-clips").value, aspect: $("aspect").value, captions: $("captions").value },
    onProgress: (sent, total) => {
      progress.value = total ? sent / total : 0;
      status.textContent = `Uploading ${file.name}: ${Math.round((100 * sent) / total)}%`;
    },
    onAfterResponse: (request, response) => {
      const given = response.getHeader("ClipQueue-Token");
      if (given) token = given;
    },
    onError: (err) => {
      let message = err.message;
      const response = err.originalResponse;
      if (response) {
        try { message = JSON.parse(response.getBody()).error.message; } catch (parse) { /* keep the first */ }
      }
      status.textContent = "";
      error.textContent = `The upload failed: ${message}`;
      error.hidden = false;
    },
    onSuccess: () => {
      status.textContent = `Uploaded ${file.name}.`;
      if (token) {
        remember(token, file.name);
        location.hash = token;
      }
    },
  });
  // A file this browser began to upload before (a closed tab, a lost connection) goes on.
  upload.findPreviousUploads().then((previous) => {
    if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
    upload.start();
  });
}

function setUpDrop() {
  const drop = $("drop");
  $("file").addEventListener("change", (event) => uploadFile(event.target.files[0]));
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    uploadFile(event.dataTransfer.files[0]);
  });
}

// ---------------------------------------------------------------- one video
function open(token) {
  clearTimeout(polling);
  shownClipsFor = null;
  $("video").hidden = false;
  $("clips").replaceChildren();
  $("timeline").replaceChildren();
  $("transcript-section").hidden = true;
  $("moments").replaceChildren();
  $("moment-status").textContent = "";
  $("video-failure").hidden = true;
  $("video-status").textContent = "Loading…";
  poll(token);
}

async function poll(token) {
  let view;
  try {
    view = await api(`/public/video/status?token=${encodeURIComponent(token)}`);
  } catch (err) {
    $("video-status").textContent = err.message;
    if (err.status !== 404 && err.status !== 400) polling = setTimeout(() => poll(token), 3000);
    return;
  }
  if (location.hash.slice(1) !== token) return;  // another video was opened meanwhile
  render(view);
  if (["queued", "running"].includes(view.status)) polling = setTimeout(() => poll(token), 1000);
}

function render(view) {
  $("video-url").textContent = view.url;
  const percent = Math.round(view.progress * 100);
  const words = { queued: "Waiting for a worker", running: "Working", done: "Done", failed: "Failed",
                  cancelled: "Cancelled" };
  $("video-status").textContent = `${words[view.status] || view.status} — ${percent}%`;
  const timeline = $("timeline");
  timeline.replaceChildren();
  for (const step of view.steps) {
    const item = el("li", { "data-state": step.state, "data-step": step.step },
      el("div", { text: step.step.replace("_", " ") }),
      el("div", { class: "state", text: step.state }));
    if (step.state === "running") {
      item.append(el("progress", { max: "1", value: String(step.progress || 0), "aria-label": `${step.step} progress` }));
    }
    if (step.duration_s !== undefined) item.append(el("div", { class: "muted", text: `${step.duration_s.toFixed(1)} s` }));
    if (step.state === "retrying") {
      item.append(el("div", { class: "muted", text: `retry ${view.retry} of ${view.max_retries}` }));
      if (view.next_attempt_at) {
        item.append(el("div", { class: "muted", text: `next try ${new Date(view.next_attempt_at).toLocaleTimeString()}` }));
      }
    }
    timeline.append(item);
  }
  const failure = $("video-failure");
  if (view.failure && view.status !== "done") {
    failure.textContent = view.status === "queued" ? `Retrying: ${view.failure.message}` : view.failure.message;
    failure.hidden = false;
  } else {
    failure.hidden = true;
  }
  if (view.status === "done" && shownClipsFor !== view.token) {
    shownClipsFor = view.token;
    renderClips(view);
    loadTranscript(view.token);
  }
}

function renderClips(view) {
  const box = $("clips");
  box.replaceChildren();
  const clips = (view.result && view.result.clips) || [];
  if (!clips.length) box.append(el("p", { text: "No clips were found in this video." }));
  for (const clip of clips) {
    const urls = clip.urls || {};
    const video = el("video", { controls: "", preload: "metadata", poster: urls.thumbnail, src: urls.media,
                                "aria-label": `Clip ${clip.rank}: ${clip.title || ""}` });
    if (urls.vtt) video.append(el("track", { kind: "captions", src: urls.vtt, srclang: "en", label: "Captions", default: "" }));
    const downloads = el("p", { class: "downloads" },
      el("a", { href: urls.media, download: "", text: urls.media && urls.media.endsWith(".m4a") ? "M4A" : "MP4" }));
    if (urls.srt) downloads.append(el("a", { href: urls.srt, download: "", text: "SRT" }));
    if (urls.vtt) downloads.append(el("a", { href: urls.vtt, download: "", text: "VTT" }));
    box.append(el("article", { class: "clip", "data-rank": String(clip.rank) },
      video,
      el("div", {},
        el("h3", { text: `${clip.rank}. ${clip.title || "Clip"}` }),
        el("p", { class: "times", text: `${clock(clip.start)} – ${clock(clip.end)} (${clip.duration.toFixed(1)} s)` }),
        el("p", { text: clip.hook ? `“${clip.hook}”` : "" }),
        el("p", { class: "muted", text: clip.text || "" }),
        downloads)));
  }
}

async function loadTranscript(token) {
  let transcript;
  try {
    transcript = await api(`/public/video/${encodeURIComponent(token)}/transcript`);
  } catch (err) {
    return;  // no transcript (yet): the clips are what matter
  }
  const source = $("source");
  source.src = `/public/video/${encodeURIComponent(token)}/source`;
  const list = $("transcript");
  list.replaceChildren();
  for (const segment of transcript.segments) {
    const button = el("button", { type: "button", "data-start": String(segment.start) },
      el("span", { class: "at", text: clock(segment.start) }), segment.text);
    button.addEventListener("click", () => {
      source.currentTime = segment.start;
      source.play().catch(() => {});
    });
    list.append(el("li", { "data-text": segment.text.toLowerCase() }, button));
  }
  $("transcript-section").hidden = false;
}

function find() {
  const phrase = $("find").value.trim().toLowerCase();
  let hits = 0;
  for (const item of $("transcript").children) {
    const hit = phrase && item.dataset.text.includes(phrase);
    item.classList.toggle("hit", Boolean(hit));
    item.classList.toggle("hidden", Boolean(phrase) && !hit);
    if (hit) hits += 1;
  }
  $("find-count").textContent = phrase ? `${hits} segment${hits === 1 ? "" : "s"} with “${phrase}”` : "";
}

// ---------------------------------------------------------------- jump to the moment
function marked(text, ranges) {
  // The API says where the matches are ([start, end) ranges); text stays text.
  const parts = [];
  let at = 0;
  for (const [start, end] of ranges) {
    if (start > at) parts.push(text.slice(at, start));
    parts.push(el("mark", { text: text.slice(start, end) }));
    at = end;
  }
  parts.push(text.slice(at));
  return parts;
}

async function searchMoments(event) {
  event.preventDefault();
  const token = location.hash.slice(1);
  const q = $("moment-q").value.trim();
  const list = $("moments");
  list.replaceChildren();
  if (!q) return;
  $("moment-status").textContent = "Searching…";
  let found;
  try {
    found = await api(`/public/video/search?token=${encodeURIComponent(token)}&q=${encodeURIComponent(q)}`);
  } catch (err) {
    $("moment-status").textContent = err.message;
    return;
  }
  const n = found.moments.length;
  $("moment-status").textContent = n ? `${n} moment${n === 1 ? "" : "s"} for “${q}”` : `Nothing found for “${q}”`;
  const source = $("source");
  for (const moment of found.moments) {
    const button = el("button", { type: "button", "data-start": String(moment.start) },
      el("span", { class: "at", text: clock(moment.start) }), ...marked(moment.text, moment.highlights));
    button.addEventListener("click", () => {
      source.currentTime = moment.start;
      source.play().catch(() => {});
    });
    list.append(el("li", {}, button));
  }
}

function route() {
  const token = location.hash.slice(1);
  if (/^[A-Za-z0-9_-]{32}$/.test(token)) open(token);
}

document.addEventListener("DOMContentLoaded", () => {
  $("submit-form").addEventListener("submit", submit);
  $("find").addEventListener("input", find);
  $("moment-form").addEventListener("submit", searchMoments);
  setUpDrop();
  window.addEventListener("hashchange", route);
  renderMine();
  route();
});
