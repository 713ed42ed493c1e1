// One video: its name, the options it is made with, the timeline while it runs, then its clips.
import { $, api, clock, el, linkable, sentence, showError } from "./dom.js";
import { relabel } from "./mine.js";
import { closeWatch, openWatch } from "./watch.js";

const ASPECTS = { original: "as the video", "9:16": "9:16 (vertical)", "1:1": "1:1 (square)", "4:5": "4:5" };
const CAPTIONS = { files: "as files", burned: "in the picture too", none: "none" };
const WORDS = { queued: "Waiting for a worker", running: "Working", done: "Done", failed: "Failed",
                cancelled: "Cancelled" };
let polling = null;
let shownClipsFor = null;
let namedFor = null;

export function openVideo(token) {
  clearTimeout(polling);
  shownClipsFor = null;
  namedFor = null;
  $("video").hidden = false;
  for (const id of ["clips", "timeline", "video-name", "video-options"]) $(id).replaceChildren();
  $("video-title").textContent = "Your video";
  $("video-title").removeAttribute("title");
  closeWatch();
  showError($("video-failure"), "");
  $("video-status").textContent = "Loading…";
  poll(token);
}

async function poll(token) {
  let view;
  try {
    view = await api(`/public/video/status?token=${encodeURIComponent(token)}`);
  } catch (err) {
    if (location.hash.slice(1) !== token) return;
    $("video-status").textContent = sentence(err.message);
    if (err.status !== 404 && err.status !== 400) polling = setTimeout(() => poll(token), 3000);
    return;
  }
  if (location.hash.slice(1) !== token) return;  // another video was opened meanwhile
  render(view);
  if (["queued", "running"].includes(view.status)) polling = setTimeout(() => poll(token), 1000);
}

// What the options read as on the page: "Clips of 15–60 s, at most 5 · frame as the video · captions as files".
export function madeWith(options) {
  if (!options) return "";
  const n = options.max_clips;
  return `Clips of ${options.clip_min_seconds}–${options.clip_max_seconds} s, at most ${n} · ` +
    `frame ${ASPECTS[options.aspect] || options.aspect} · captions ${CAPTIONS[options.captions] || options.captions}`;
}

function renderName(view) {
  // An upload by its file name; a URL as itself, a link to where it came from. Cut to two
  // lines at most, the whole of it on hover.
  const label = view.filename || view.url;
  const title = $("video-title");
  title.title = label;
  if (!view.filename && linkable(view.url)) {
    title.replaceChildren(el("a", { href: view.url, rel: "noopener noreferrer", target: "_blank", text: view.url }));
  } else {
    title.textContent = label;
  }
  $("video-name").textContent = view.filename ? "An uploaded file" : "";
  $("video-options").textContent = madeWith(view.options);
  if (view.filename) relabel(view.token, view.filename);
}

function render(view) {
  if (namedFor !== view.token) {  // once: a link re-made at every poll would lose the focus
    namedFor = view.token;
    renderName(view);
  }
  const percent = Math.round(view.progress * 100);
  $("video-status").textContent = `${WORDS[view.status] || view.status} — ${percent}%`;
  const timeline = $("timeline");
  timeline.replaceChildren();
  for (const step of view.steps) {
    const item = el("li", { "data-state": step.state, "data-step": step.step },
      el("div", { text: step.step.replace("_", " ") }),
      el("div", { class: "state", text: step.state }));
    if (step.state === "running") {
      item.append(el("progress", { max: "1", value: String(step.progress || 0),
                                   "aria-label": `${step.step} progress` }));
    }
    if (step.duration_s !== undefined) {
      item.append(el("div", { class: "muted", text: `${step.duration_s.toFixed(1)} s` }));
    }
    if (step.state === "retrying") {
      item.append(el("div", { class: "muted", text: `retry ${view.retry} of ${view.max_retries}` }));
      if (view.next_attempt_at) {
        const next = new Date(view.next_attempt_at).toLocaleTimeString();
        item.append(el("div", { class: "muted", text: `next try ${next}` }));
      }
    }
    timeline.append(item);
  }
  let failure = "";
  if (view.failure && ["queued", "running"].includes(view.status)) failure = `Retrying: ${view.failure.message}`;
  else if (view.failure && view.status === "failed") failure = sentence(view.failure.message);
  showError($("video-failure"), failure);
  if (view.status === "done" && shownClipsFor !== view.token) {
    shownClipsFor = view.token;
    renderClips(view);
    openWatch(view);
  }
}

// A clip's player takes its thumbnail's own shape (vertical, square, wide): --ratio sets its
// box, so the picture is never stretched or boxed into another aspect.
function shapeFromPoster(media, poster) {
  const probe = new Image();
  probe.addEventListener("load", () => {
    if (!probe.naturalWidth || !probe.naturalHeight) return;
    media.style.setProperty("--ratio", String(probe.naturalWidth / probe.naturalHeight));
    media.classList.add("shaped");
    media.dataset.ratio = (probe.naturalWidth / probe.naturalHeight).toFixed(4);
  });
  probe.src = poster;
}

function renderClips(view) {
  const box = $("clips");
  box.replaceChildren();
  const clips = (view.result && view.result.clips) || [];
  if (!clips.length) box.append(el("p", { text: "No clips were found in this video." }));
  for (const clip of clips) {
    const urls = clip.urls || {};
    const audio = Boolean(urls.media && urls.media.endsWith(".m4a"));
    const name = `${clip.rank}. ${clip.title || "Clip"}`;
    const media = el("video", { controls: true, preload: "metadata", poster: urls.thumbnail, src: urls.media,
                                class: audio ? "media audio" : "media", "aria-label": `Clip ${name}` });
    if (urls.thumbnail) shapeFromPoster(media, urls.thumbnail);
    if (urls.vtt) {
      media.append(el("track", { kind: "captions", src: urls.vtt, srclang: "en", label: "Captions", default: true }));
    }
    const downloads = el("p", { class: "downloads" },
      el("a", { href: urls.media, download: true, text: audio ? "M4A" : "MP4" }));
    if (urls.srt) downloads.append(el("a", { href: urls.srt, download: true, text: "SRT" }));
    if (urls.vtt) downloads.append(el("a", { href: urls.vtt, download: true, text: "VTT" }));
    box.append(el("article", { class: "clip", "data-rank": String(clip.rank) },
      el("div", { class: "frame" }, media),
      el("div", { class: "about" },
        el("h3", { text: name }),
        el("p", { class: "times", text: `${clock(clip.start)} – ${clock(clip.end)} (${clip.duration.toFixed(1)} s)` }),
        clip.hook ? el("p", { class: "hook", text: `“${clip.hook}”` }) : null,
        clip.band_note ? el("p", { class: "muted note", text: clip.band_note }) : null,
        el("p", { class: "muted", text: clip.text || "" }),
        downloads)));
  }
}
