// ClipQueue's page: a client of the public JSON API (see /openapi.json). No framework, no
// build: ES modules, each one part of the page (dom, mine, submit, video, watch, player, ask).
import { renderMine } from "./mine.js";
import { setUpSubmit } from "./submit.js";
import { openVideo } from "./video.js";
import { setUpWatch } from "./watch.js";
import { setUpAsk } from "./ask.js";

function route() {
  const token = location.hash.slice(1);
  if (/^[A-Za-z0-9_-]{32}$/.test(token)) openVideo(token);
}

setUpSubmit();
setUpWatch();
setUpAsk();
window.addEventListener("hashchange", route);
renderMine();
route();
