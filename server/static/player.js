// The whole video's player, and the buttons (transcript lines, moments found, citations)
// that play it from a moment.
import { $, clock, el } from "./dom.js";

export function seek(seconds) {
  const source = $("source");
  source.currentTime = seconds;
  source.play().catch(() => {});  // a click allows playing; if it is refused, the seek stands
  source.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

// A button that says when (m:ss.s) and what, and plays the video from there.
export function seekButton(start, ...label) {
  const button = el("button", { type: "button", class: "seek", "data-start": String(start) },
    el("span", { class: "at", text: clock(start) }), ...label);
  button.addEventListener("click", () => seek(start));
  return button;
}
