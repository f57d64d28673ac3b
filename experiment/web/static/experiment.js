// The online 2AFC and questionnaire (jsPsych 8). The server decides everything that matters
// (trial order, counterbalancing, correctness); this page shows the trials, posts each completed
// one in order (retrying until the server has it) and resumes where the server says.
"use strict";

const IDS = Object.fromEntries(new URLSearchParams(location.search));
const TOKEN_KEY = "toi-token:" + location.search;
let TOKEN = localStorage.getItem(TOKEN_KEY);
let PLAN = null;
let jsPsych = null;
let queue = Promise.resolve();
let pending = 0;
let stopped = false;
let currentIndex = 0;
let answered = 0;  // trials answered on this page
let T0 = 0;  // page clock (s) when the server started this attempt: onsets count from it

function now() { return performance.now() / 1000 - T0; }

function client() {
  return {
    screen: [Math.max(1, screen.width | 0), Math.max(1, screen.height | 0)],
    window: [Math.max(1, window.innerWidth | 0), Math.max(1, window.innerHeight | 0)],
    dpr: window.devicePixelRatio || 1,
    fullscreen: !!document.fullscreenElement,
  };
}

function showMessage(html) {
  for (const id of ["consent", "fullscreen-banner"]) document.getElementById(id).hidden = true;
  const el = document.getElementById("message");
  el.innerHTML = html;
  el.hidden = false;
  document.getElementById("jspsych-target").hidden = true;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

class Refused extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (TOKEN) headers["Authorization"] = "Bearer " + TOKEN;
  const r = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Refused(r.status, data.error || ("HTTP " + r.status));
  return data;
}

// Posts go out one after another; a lost connection or a 5xx is retried until it succeeds (the
// server ignores a retried trial it already stored), a 4xx stops the session with its message.
function post(path, body) {
  pending += 1;
  const saving = document.getElementById("saving");
  const timer = setTimeout(() => { saving.hidden = false; }, 1500);
  queue = queue.then(async () => {
    for (let attempt = 0; !stopped; attempt++) {
      try {
        const out = await api(path, body);
        return out;
      } catch (e) {
        if (e instanceof Refused && e.status < 500 && e.status !== 429) {
          stopped = true;
          const msg = e.status === 401 ? "This session was opened in another tab or window; please continue there."
                                       : "The session cannot continue: " + escapeHtml(e.message);
          if (jsPsych) jsPsych.abortExperiment();
          showMessage("<p>" + msg + "</p>");
          return null;
        }
        await new Promise((res) => setTimeout(res, Math.min(4000, 250 * 2 ** Math.min(attempt, 4))));
      }
    }
    return null;
  }).finally(() => {
    pending -= 1;
    clearTimeout(timer);
    if (pending === 0) saving.hidden = true;
  });
  return queue;
}

async function start(consent) {
  try {
    PLAN = await api("/api/start", { ids: IDS, token: TOKEN, consent: consent });
  } catch (e) {
    if (e instanceof Refused && e.status === 403) return showConsent();
    return showMessage("<p>The study cannot start: " + escapeHtml(e.message) + "</p>");
  }
  T0 = performance.now() / 1000;
  TOKEN = PLAN.token;
  currentIndex = PLAN.done;
  localStorage.setItem(TOKEN_KEY, TOKEN);
  if (PLAN.complete) return showCompletion(PLAN);
  run();
}

async function showConsent() {
  const info = await fetch("/api/info").then((r) => r.json()).catch(() => ({}));
  document.getElementById("consent-text").innerHTML = info.consent_text || "";
  document.getElementById("consent").hidden = false;
  document.getElementById("consent-agree").onclick = () => {
    document.getElementById("consent").hidden = true;
    start(true);
  };
}

function showCompletion(result) {
  let html = "<h2>Thank you!</h2><p>The session is complete and your answers are saved.</p>" +
             "<p>Your completion code is <span id=\"completion-code\" class=\"code\">" + escapeHtml(result.completion_code) + "</span></p>";
  if (result.redirect_url) {
    html += "<p><a id=\"completion-link\" href=\"" + escapeHtml(result.redirect_url) + "\">Return to the study platform</a> (you will be taken there in a few seconds).</p>";
    setTimeout(() => { location.href = result.redirect_url; }, 5000);
  }
  showMessage(html);
}

// Every showing of a trial is remembered in this browser (session clock), so that a trial shown
// again after a reload is posted with its earlier onsets (n_shown, onsets in the TSV).
function markShown(index, pageOnset) {
  const key = TOKEN_KEY + ":shown:" + index;
  const earlier = JSON.parse(localStorage.getItem(key) || "[]").slice(-19);
  localStorage.setItem(key, JSON.stringify([...earlier, PLAN.clock_offset_s + pageOnset]));
  return earlier;
}

function imageUrl(stim) { return "/stimuli/" + encodeURIComponent(stim) + ".png"; }

function loadImages(urls) {
  const out = {};
  return Promise.all(urls.map((u) => new Promise((res, rej) => {
    const im = new Image();
    im.onload = () => { out[u] = im; res(); };
    im.onerror = () => rej(new Error("image " + u));
    im.src = u;
  }))).then(() => out);
}

function fixation(index) {
  // Ends when the fixation time is over and every earlier post has reached the server.
  return {
    type: jsPsychHtmlKeyboardResponse,
    stimulus: "<div class=\"fixation\">+</div>",
    choices: "NO_KEYS",
    on_load: () => {
      currentIndex = index;
      const wait = new Promise((res) => setTimeout(res, PLAN.fixation_s * 1000));
      Promise.all([wait, queue]).then(() => { if (!stopped) jsPsych.finishTrial({ screen: "fixation" }); });
    },
  };
}

function counter(t) {
  const practice = PLAN.trials.filter((x) => x.phase === "practice");
  const test = PLAN.trials.filter((x) => x.phase === "test");
  const list = t.phase === "practice" ? practice : test;
  const pos = list.findIndex((x) => x.index === t.index) + 1;
  return { pos, of: list.length, text: (t.phase === "practice" ? "practice " : "") + pos + " / " + list.length };
}

function twoAfcTrial(t) {
  const keys = PLAN.keys;
  let onset = 0, earlier = [];
  return {
    type: jsPsychCanvasKeyboardResponse,
    canvas_size: [10, 10],
    choices: [keys.left, keys.right],
    stimulus: (c) => {
      const L = window.IMAGES[imageUrl(t.left)], R = window.IMAGES[imageUrl(t.right)];
      const dpr = window.devicePixelRatio || 1;
      const scale = PLAN.screen.image_pixels === "device" ? 1 : dpr;  // backing pixels per image pixel
      const gap = PLAN.screen.image_gap_px * dpr;
      const w = Math.round((L.naturalWidth + R.naturalWidth) * scale + gap);
      const h = Math.round(Math.max(L.naturalHeight, R.naturalHeight) * scale);
      c.width = w; c.height = h;
      c.style.width = (w / dpr) + "px"; c.style.height = (h / dpr) + "px";
      const ctx = c.getContext("2d");
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(L, 0, (h - L.naturalHeight * scale) / 2, L.naturalWidth * scale, L.naturalHeight * scale);
      ctx.drawImage(R, L.naturalWidth * scale + gap, (h - R.naturalHeight * scale) / 2, R.naturalWidth * scale, R.naturalHeight * scale);
      onset = now();
      earlier = markShown(t.index, onset);
    },
    prompt: "<p class=\"keys\"><b>" + keys.left.toUpperCase() + "</b> = left image &nbsp;&nbsp;&nbsp; <b>" +
            keys.right.toUpperCase() + "</b> = right image</p><p class=\"count\">" + counter(t).text + "</p>",
    data: { screen: "trial", index: t.index },
    on_finish: (data) => {
      answered += 1;
      post("/api/trial", { index: t.index, trial: t.trial, key: data.response, rt: data.rt / 1000, onset,
                           earlier_onsets: earlier, client: client() });
    },
  };
}

const Q_TEXT = [
  "How many objects belonging to different categories are in the image?",
  "Is there a main category in the image?",
  "Is the presentation of the objects unusual in any manner?",
];
const Q_CHOICES = [["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10+"], ["no", "maybe", "yes"], ["no", "slightly", "very"]];

function questionnaireTrials(t) {
  const answers = {}, rts = [];
  let onset = 0, earlier = [];
  return [0, 1, 2].map((q) => ({
    type: jsPsychImageButtonResponse,
    stimulus: imageUrl(t.stim),
    stimulus_height: null,
    render_on_canvas: true,
    choices: Q_CHOICES[q],
    prompt: "<p class=\"question\" data-q=\"" + (q + 1) + "\"><b>" + (q + 1) + ". " + Q_TEXT[q] + "</b></p><p class=\"count\">" + counter(t).text + "</p>",
    data: { screen: "question", question: q + 1, index: t.index },
    on_load: () => { if (q === 0) { onset = now(); earlier = markShown(t.index, onset); } },
    on_finish: (data) => {
      const choice = Q_CHOICES[q][data.response];
      if (q === 0) answers.n_categories = choice === "10+" ? 10 : parseInt(choice, 10);
      if (q === 1) answers.main_category = choice;
      if (q === 2) answers.unusual = choice;
      rts.push(data.rt / 1000);
      if (q === 2) answered += 1;
      if (q === 2) post("/api/trial", { index: t.index, trial: t.trial, answers, rt: rts, onset, earlier_onsets: earlier, client: client() });
    },
  }));
}

function catchTrial(c) {
  const keys = PLAN.keys;
  if (PLAN.task === "2afc") {
    const key = c.expected === "left" ? keys.left : keys.right;
    return {
      type: jsPsychHtmlKeyboardResponse,
      stimulus: "<p>Attention check: press the <b>" + key.toUpperCase() + "</b> key now.</p>",
      choices: [keys.left, keys.right],
      data: { screen: "catch" },
      on_finish: (d) => post("/api/event", { kind: "catch", after_test: c.after_test,
                                              response: d.response === keys.left ? "left" : "right", rt: d.rt / 1000 }),
    };
  }
  const choices = ["no", "maybe", "yes"];
  return {
    type: jsPsychHtmlButtonResponse,
    stimulus: "<p>Attention check: please click <b>" + c.expected + "</b>.</p>",
    choices,
    data: { screen: "catch" },
    on_finish: (d) => post("/api/event", { kind: "catch", after_test: c.after_test, response: choices[d.response], rt: d.rt / 1000 }),
  };
}

function button(html, label, screenName) {
  return { type: jsPsychHtmlButtonResponse, stimulus: html, choices: [label], data: { screen: screenName } };
}

async function run() {
  jsPsych = initJsPsych({
    display_element: "jspsych-target",
    on_finish: async () => {
      // ended early (the browser check excluded this window): its message stays on screen
      if (stopped || PLAN.done + answered < PLAN.n_trials) return;
      await queue;
      try { showCompletion(await api("/api/finish", {})); }
      catch (e) { showMessage("<p>The session could not be closed: " + escapeHtml(e.message) + "</p>"); }
    },
  });
  const banner = document.getElementById("fullscreen-banner");
  document.getElementById("fullscreen-return").onclick = () => {
    document.documentElement.requestFullscreen().catch(() => null)
      .finally(() => document.getElementById("jspsych-target").focus());  // keys reach jsPsych again
  };
  let lastFullscreen = null;  // browsers may fire fullscreenchange twice for one change: post changes only
  document.addEventListener("fullscreenchange", () => {
    if (stopped || !PLAN) return;
    banner.hidden = !PLAN.screen.fullscreen || !!document.fullscreenElement;
    if (lastFullscreen === !!document.fullscreenElement) return;
    lastFullscreen = !!document.fullscreenElement;
    post("/api/event", { kind: document.fullscreenElement ? "fullscreen_enter" : "fullscreen_exit",
                         index: currentIndex, client: client() });
  });
  const remaining = PLAN.trials.slice(PLAN.done);
  const urls = [...new Set(remaining.flatMap((t) => PLAN.task === "2afc" ? [imageUrl(t.left), imageUrl(t.right)] : [imageUrl(t.stim)]))];
  const timeline = [];
  const [mw, mh] = PLAN.screen.min_window_px;
  timeline.push({
    type: jsPsychBrowserCheck,
    features: ["width", "height", "browser", "browser_version", "mobile", "os"],
    minimum_width: mw, minimum_height: mh,
    exclusion_message: () => "<p id=\"excluded\">Your browser window is too small for this study (at least " + mw + " x " + mh +
                              " pixels are needed). You can close this page; please return the study on the platform.</p>",
    on_finish: (d) => {
      if (d.width < mw || d.height < mh) return;  // excluded: jsPsych shows exclusion_message, nothing is stored
      post("/api/event", { kind: "setup", width: d.width, height: d.height, browser: d.browser,
                           browser_version: String(d.browser_version || ""), os: d.os || "",
                           mobile: !!d.mobile, client: client() });
    },
  });
  if (PLAN.screen.fullscreen) {
    timeline.push({ type: jsPsychFullscreen, fullscreen_mode: true,
                    message: "<p>The study runs in full screen. Please stay in full screen until the end.</p>",
                    button_label: "Continue in full screen" });
  }
  if (PLAN.screen.calibration && !PLAN.resumed) {
    timeline.push({
      type: jsPsychVirtualChinrest, resize_units: "none", blindspot_reps: 0,
      adjustment_prompt: "<p>Hold a credit card (or any card of that size) against the screen and drag the corner of the box until the box matches the card.</p>",
      on_finish: (d) => post("/api/event", { kind: "calibration", item_width_px: d.item_width_px, px_per_mm: d.px2mm, client: client() }),
    });
  }
  const welcome = PLAN.done > 0 ? "<p><b>Welcome back.</b> The session continues with trial " + (PLAN.done + 1) + " of " + PLAN.n_trials + ".</p>" : "";
  timeline.push(button(welcome + PLAN.instructions, "Start", "instructions"));
  timeline.push({ type: jsPsychPreload, images: urls, message: "Loading images…" });
  const catches = Object.fromEntries(PLAN.catch.map((c) => [c.after_test, c]));
  remaining.forEach((t, k) => {
    if (t.phase === "test" && k > 0 && remaining[k - 1].phase === "practice") {
      timeline.push(button("<p>The practice trials are over; the test trials start now.</p>", "Start", "practice_done"));
    }
    timeline.push(fixation(t.index));
    if (PLAN.task === "2afc") timeline.push(twoAfcTrial(t));
    else timeline.push(...questionnaireTrials(t));
    const c = counter(t);
    if (t.phase === "test" && catches[c.pos]) timeline.push(catchTrial(catches[c.pos]));
    if (t.phase === "test" && PLAN.break_every && c.pos % PLAN.break_every === 0 && c.pos < c.of) {
      timeline.push(button("<p>Time for a short break.</p><p>" + c.pos + " of " + c.of + " done.</p>", "Continue", "break"));
    }
  });
  window.IMAGES = PLAN.task === "2afc" ? await loadImages(urls) : {};
  jsPsych.run(timeline);
}

window.addEventListener("DOMContentLoaded", () => { start(false); });
