// Small helpers every part of the page uses: elements built from text (never from markup),
// times as m:ss.s, and the API's JSON answers and errors.

export const $ = (id) => document.getElementById(id);

// Children are nodes or strings; strings become text nodes, so what the API says is shown as
// text and never parsed as HTML.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

export function clock(seconds) {
  const s = Math.max(0, Number(seconds) || 0);
  const m = Math.floor(s / 60);
  return `${m}:${(s - m * 60).toFixed(1).padStart(4, "0")}`;
}

export const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

// Only http(s) links are made from what a client submitted (never javascript: or data:).
export const linkable = (url) => typeof url === "string" && /^https?:\/\//i.test(url);

// A failed call throws an Error whose message is the API's own sentence; `status` and
// `retryAfter` (seconds, from Retry-After) ride along.
export async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new Error("the server did not answer; check your connection and try again");
  }
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("application/json") ? await response.json().catch(() => null) : null;
  if (!response.ok) {
    const error = new Error(body && body.error ? body.error.message : `the server answered ${response.status}`);
    error.status = response.status;
    error.retryAfter = Number(response.headers.get("Retry-After")) || null;
    throw error;
  }
  return body;
}

// The API's messages are sentences without their capital (they read well after a colon).
export const sentence = (text) => (text ? text.charAt(0).toUpperCase() + text.slice(1) : "");

export function showError(node, message) {
  node.textContent = message;
  node.hidden = !message;
}
