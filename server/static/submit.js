// "Make clips": a URL, or a file uploaded resumably (tus). Picking or dropping a file only
// chooses it: the options are set first, and the "Make clips" button starts the work.
import { $, api, sentence, showError } from "./dom.js";
import { remember } from "./mine.js";

let chosen = null;    // the picked File
let running = null;   // the tus upload in progress

function options() {
  return { clip_min_seconds: Number($("clip-min").value), clip_max_seconds: Number($("clip-max").value),
           max_clips: Number($("max-clips").value), aspect: $("aspect").value, captions: $("captions").value };
}

function size(bytes) {
  const mb = bytes / (1024 * 1024);
  return mb >= 1 ? `${mb.toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

function choose(file) {
  chosen = file || null;
  $("file-chosen").hidden = !chosen;
  $("upload-status").textContent = "";
  showError($("form-error"), "");
  if (chosen) {
    $("file-name").textContent = chosen.name;
    $("file-name").title = chosen.name;
    $("file-size").textContent = `(${size(chosen.size)})`;
    $("upload-status").textContent = "Set the options, then press Make clips.";
  } else {
    $("file").value = "";
  }
}

function busy(on, label = "Make clips") {
  $("submit-button").disabled = on;
  $("submit-button").textContent = label;
  $("file").disabled = on;
  $("file-clear").disabled = on;
  $("upload-cancel").hidden = !running;
}

async function submit(event) {
  event.preventDefault();
  const error = $("form-error");
  showError(error, "");
  const url = $("url").value.trim();
  if (chosen && url) {
    showError(error, "Give a URL or a file, not both: clear the URL, or remove the file.");
    $("url").focus();
    return;
  }
  if (chosen) {
    upload(chosen);
    return;
  }
  if (!url) {
    showError(error, "Enter the URL of a video, or pick a file.");
    $("url").focus();
    return;
  }
  busy(true, "Sending…");
  try {
    const accepted = await api("/public/video", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ url, ...options() }) });
    remember(accepted.token, url);
    location.hash = accepted.token;
  } catch (err) {
    showError(error, sentence(err.message));
  } finally {
    busy(false);
  }
}

function chunkSize() {
  // ?chunk_mb=N: smaller chunks for slow or flaky connections (each chunk resumes on its own),
  // never under 0.25 MB: the server refuses a chunk under 64 KiB that is not the file's last.
  const mb = Number(new URLSearchParams(location.search).get("chunk_mb"));
  return Math.round((mb > 0 ? Math.max(mb, 0.25) : 8) * 1024 * 1024);
}

function upload(file) {
  const error = $("form-error");
  if (typeof tus === "undefined" || !tus.isSupported) {
    showError(error, "This browser cannot upload files resumably; give a URL instead.");
    return;
  }
  const progress = $("upload-progress");
  const status = $("upload-status");
  const metadata = { filename: file.name };
  for (const [key, value] of Object.entries(options())) metadata[key] = String(value);
  let token = null;
  progress.hidden = false;
  progress.value = 0;
  status.textContent = "Uploading…";
  const finish = () => { running = null; progress.hidden = true; busy(false); };
  running = new tus.Upload(file, {
    endpoint: "/public/uploads",
    chunkSize: chunkSize(),
    retryDelays: [0, 1000, 3000, 5000, 10000],
    metadata,
    onProgress: (sent, total) => {
      progress.value = total ? sent / total : 0;
      status.textContent = `Uploading: ${Math.round((100 * sent) / total)}%`;
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
      finish();
      status.textContent = "";
      showError(error, `The upload failed: ${message}`);
    },
    onSuccess: () => {
      finish();
      choose(null);
      status.textContent = "Uploaded.";
      if (token) {
        remember(token, file.name);
        location.hash = token;
      }
    },
  });
  busy(true, "Uploading…");
  const started = running;
  // A file this browser began to upload before (a closed tab, a lost connection) goes on.
  started.findPreviousUploads().then((previous) => {
    if (started !== running) return;  // cancelled meanwhile
    if (previous.length) started.resumeFromPreviousUpload(previous[0]);
    started.start();
  });
}

function cancel() {
  if (!running) return;
  const stopping = running;
  running = null;
  stopping.abort(true).catch(() => {});  // true: the server drops what it has of it
  $("upload-progress").hidden = true;
  $("upload-status").textContent = "Upload cancelled.";
  busy(false);
}

export function setUpSubmit() {
  $("submit-form").addEventListener("submit", submit);
  $("file").addEventListener("change", (event) => choose(event.target.files[0]));
  $("file-clear").addEventListener("click", () => { choose(null); $("file").focus(); });
  $("upload-cancel").addEventListener("click", cancel);
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (!running) choose(event.dataTransfer.files[0]);
  });
}
