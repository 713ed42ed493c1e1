// The whole video, once it is done: its player (with a poster made from one of its own
// frames), the transcript, one search box over both, and questions (ask.js).
import { $, api, el, plural } from "./dom.js";
import { closeAsk, openAsk } from "./ask.js";
import { seekButton } from "./player.js";

let posterUrl = null;

export function closeWatch() {
  $("transcript-section").hidden = true;
  for (const id of ["moments", "transcript"]) $(id).replaceChildren();
  for (const id of ["moment-status", "find-count"]) $(id).textContent = "";
  $("q").value = "";
  const source = $("source");
  source.pause();
  source.removeAttribute("src");
  source.removeAttribute("poster");
  source.classList.remove("audio-only");
  if (posterUrl) URL.revokeObjectURL(posterUrl);
  posterUrl = null;
  closeAsk();
}

// The poster: a frame from the middle of the best clip (or 10% in), drawn from a second,
// muted element so the player itself stays at 0:00. An audio-only source gets a slim player.
function makePoster(source, at) {
  const probe = el("video", { muted: true, preload: "auto" });
  probe.muted = true;
  probe.addEventListener("loadedmetadata", () => {
    if (!probe.videoWidth) {
      source.classList.add("audio-only");
      probe.removeAttribute("src");
      return;
    }
    const duration = Number.isFinite(probe.duration) ? probe.duration : at;
    probe.currentTime = Math.min(at ?? duration * 0.1, Math.max(0, duration - 0.1));
  }, { once: true });
  probe.addEventListener("seeked", () => {
    const scale = Math.min(1, 1280 / probe.videoWidth);
    const canvas = el("canvas", { width: Math.round(probe.videoWidth * scale),
                                  height: Math.round(probe.videoHeight * scale) });
    canvas.getContext("2d").drawImage(probe, 0, 0, canvas.width, canvas.height);
    canvas.toBlob((blob) => {
      probe.removeAttribute("src");
      probe.load();
      if (!blob || source.src !== probe.dataset.for) return;  // another video was opened meanwhile
      posterUrl = URL.createObjectURL(blob);
      source.poster = posterUrl;
    }, "image/jpeg", 0.85);
  }, { once: true });
  probe.dataset.for = source.src;
  probe.src = source.src;
}

export async function openWatch(view) {
  const token = view.token;
  let transcript;
  try {
    transcript = await api(`/public/video/${encodeURIComponent(token)}/transcript`);
  } catch (err) {
    return;  // no transcript: the clips are what matter
  }
  if (location.hash.slice(1) !== token) return;
  const source = $("source");
  source.src = `/public/video/${encodeURIComponent(token)}/source`;
  const best = ((view.result && view.result.clips) || [])[0];
  makePoster(source, best ? best.start + best.duration / 2 : null);
  const list = $("transcript");
  list.replaceChildren();
  for (const segment of transcript.segments) {
    list.append(el("li", { "data-text": segment.text.toLowerCase() }, seekButton(segment.start, segment.text)));
  }
  filter();
  $("transcript-section").hidden = false;
  openAsk(token);
}

// As the person types: the transcript keeps the lines that contain the words.
function filter() {
  const phrase = $("q").value.trim().toLowerCase();
  let hits = 0;
  const items = $("transcript").children;
  for (const item of items) {
    const hit = Boolean(phrase) && item.dataset.text.includes(phrase);
    item.classList.toggle("hit", hit);
    item.classList.toggle("hidden", Boolean(phrase) && !hit);
    if (hit) hits += 1;
  }
  $("find-count").textContent = phrase ? `${plural(hits, "line")} of the transcript with “${phrase}”`
    : `${plural(items.length, "line")}. Click one to play the video from there.`;
}

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

// On Search: the moments where it is said or meant, best first (the API's search).
async function search(event) {
  event.preventDefault();
  const token = location.hash.slice(1);
  const q = $("q").value.trim();
  const list = $("moments");
  list.replaceChildren();
  if (!q) {
    $("moment-status").textContent = "Type what was said, or what it was about.";
    return;
  }
  $("moment-status").textContent = "Searching…";
  let found;
  try {
    found = await api(`/public/video/search?token=${encodeURIComponent(token)}&q=${encodeURIComponent(q)}`);
  } catch (err) {
    $("moment-status").textContent = err.message;
    return;
  }
  const n = found.moments.length;
  $("moment-status").textContent = n ? `${plural(n, "moment")} for “${q}”, best first` : `No moment found for “${q}”`;
  for (const moment of found.moments) {
    list.append(el("li", {}, seekButton(moment.start, ...marked(moment.text, moment.highlights))));
  }
}

export function setUpWatch() {
  $("q").addEventListener("input", filter);
  $("search-form").addEventListener("submit", search);
}
