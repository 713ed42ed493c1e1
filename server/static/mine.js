// "My videos": the tokens this browser submitted, kept in its localStorage (the server lists
// no tokens). Each is labelled by its file name or its URL.
import { $, el } from "./dom.js";

const STORE = "clipqueue.videos";

function mine() {
  try { return JSON.parse(localStorage.getItem(STORE)) || []; } catch (err) { return []; }
}

function save(list) {
  try { localStorage.setItem(STORE, JSON.stringify(list.slice(0, 50))); } catch (err) { /* private mode: no list */ }
  renderMine();
}

export function remember(token, label) {
  save([{ token, url: label, at: new Date().toISOString() }, ...mine().filter((v) => v.token !== token)]);
}

// The status names the video (an upload's file name): the list says it too.
export function relabel(token, label) {
  const list = mine();
  const known = list.find((v) => v.token === token);
  if (known && known.url !== label) {
    known.url = label;
    save(list);
  }
}

export function renderMine() {
  const list = $("mine");
  list.replaceChildren();
  const videos = mine();
  if (!videos.length) list.append(el("li", { class: "muted", text: "None yet." }));
  for (const video of videos) {
    const label = String(video.url || video.token);
    list.append(el("li", {},
      el("a", { href: `#${video.token}`, class: "one-line", title: label, text: label }),
      el("span", { class: "muted when", text: new Date(video.at).toLocaleString() })));
  }
}
