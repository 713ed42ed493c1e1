// Questions about the video (POST /public/video/ask): the answer, and the moments it rests on
// as buttons that play the video from there. The API's refusals (too many questions, the
// model unavailable or answering badly) are shown in its own words, with when to ask again.
import { $, api, el, sentence, showError } from "./dom.js";
import { seekButton } from "./player.js";

let askedFor = null;

export function closeAsk() {
  askedFor = null;
  $("question").value = "";
  $("answer").replaceChildren();
  $("answer").hidden = true;
  showError($("ask-error"), "");
}

export function openAsk(token) {
  closeAsk();
  askedFor = token;
}

function refusal(err) {
  let message = err.message;
  if (err.retryAfter && !/\d+\s*s\b/.test(message)) message += ` (you can ask again in ${err.retryAfter} s)`;
  return sentence(message);
}

function showAnswer(reply) {
  const box = $("answer");
  box.replaceChildren();
  const cited = reply.citations || [];
  if (reply.mode === "generative") box.append(el("p", { class: "reply", text: reply.answer }));
  else if (reply.mode === "extractive") box.append(el("p", { class: "reply", text: "What the video says about it:" }));
  else box.append(el("p", { class: "reply", text: reply.answer || "Nothing in the transcript answers that." }));
  if (reply.note) box.append(el("p", { class: "muted", text: `Note: ${reply.note}.` }));
  if (cited.length) {
    const list = el("ol", { class: "transcript citations", "aria-label": "The moments the answer rests on" });
    for (const citation of cited) {
      const quote = reply.mode === "generative" ? citation.quote : citation.text;
      list.append(el("li", {}, seekButton(citation.start, `“${quote}”`)));
    }
    box.append(list);
  }
  box.hidden = false;
}

async function ask(event) {
  event.preventDefault();
  const token = askedFor;
  const question = $("question").value.trim();
  const error = $("ask-error");
  showError(error, "");
  if (!question) {
    showError(error, "Type a question first.");
    $("question").focus();
    return;
  }
  const button = $("ask-button");
  button.disabled = true;
  button.textContent = "Asking…";
  try {
    const reply = await api("/public/video/ask", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token, question }) });
    if (token === askedFor) showAnswer(reply);
  } catch (err) {
    if (token === askedFor) showError(error, refusal(err));
  } finally {
    button.disabled = false;
    button.textContent = "Ask";
  }
}

export function setUpAsk() {
  $("ask-form").addEventListener("submit", ask);
}
