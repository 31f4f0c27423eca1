/* Small DOM and formatting helpers for the console. Text is only ever set with textContent. */

export function h(tag, attrs, kids) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (name === "text") el.textContent = value;
    else if (name === "hidden") el.hidden = true;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const kid of kids || []) if (kid != null) el.append(kid);
  return el;
}

export function $(id) { return document.getElementById(id); }

let STRINGS = {};
export function setStrings(strings) { STRINGS = strings || {}; }

/* A translated UI string with {name} placeholders filled. */
export function t(key, vars) {
  let s = STRINGS[key] || key;
  for (const [name, value] of Object.entries(vars || {})) s = s.split("{" + name + "}").join(String(value));
  return s;
}

export const LANG = document.documentElement.lang || "en";

export function clock(iso) {
  const date = iso ? new Date(iso) : new Date();
  try { return date.toLocaleTimeString(LANG, {hour: "2-digit", minute: "2-digit"}); } catch (e) { return ""; }
}

export function day(iso) {
  try { return new Date(iso).toLocaleString(LANG, {dateStyle: "medium", timeStyle: "short"}); } catch (e) { return iso; }
}

/* 75 -> "1:15", 3725 -> "1:02:05"; a wait is shown the same way everywhere. */
export function duration(seconds) {
  seconds = Math.max(0, Math.floor(seconds || 0));
  const hh = Math.floor(seconds / 3600), mm = Math.floor((seconds % 3600) / 60), ss = seconds % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return hh ? `${hh}:${pad(mm)}:${pad(ss)}` : `${mm}:${pad(ss)}`;
}

/* Colour class of a wait: calm under a minute, warning under three, late after. */
export function waitClass(seconds) {
  return seconds < 60 ? "wait-ok" : seconds < 180 ? "wait-warn" : "wait-late";
}

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
  return [...b].map((x, i) => ([4, 6, 8, 10].includes(i) ? "-" : "") + x.toString(16).padStart(2, "0")).join("");
}

export function initial(name) { return (name || "?").trim().charAt(0).toUpperCase() || "?"; }

/* Storage that never throws (private windows, full quota). */
export const store = {
  get(key, fallback) {
    try { const v = localStorage.getItem(key); return v == null ? fallback : JSON.parse(v); } catch (e) { return fallback; }
  },
  set(key, value) {
    try { if (value == null) localStorage.removeItem(key); else localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* ignore */ }
  },
};
