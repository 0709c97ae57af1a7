// The labelling page: shows the next queried item, records a key press as its label, and
// keeps the progress panel live. Talks to the JSON API under /api/ only.
"use strict";

const state = { config: null, items: [], busy: false, shownAt: 0, keys: new Map(), poll: null };

const $ = (id) => document.getElementById(id);

function say(text, isError) {
  const status = $("status");
  status.textContent = text || "";
  status.className = isError ? "error" : "";
}

async function api(path, payload) {
  const options = payload === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  };
  const response = await fetch(path, options);
  const answer = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function renderItem() {
  const box = $("item");
  box.replaceChildren();
  const item = state.items[0];
  const rest = state.items.length - 1;
  $("queue").textContent = rest > 0 ? `${rest} more in this batch` : "";
  if (!item) {
    box.dataset.id = "";
    box.append(element("p", state.waiting ? "Fitting the model on your labels…" : "Nothing left to label.", "placeholder"));
    setButtons(false);
    return;
  }
  box.dataset.id = item.id;
  box.append(element("p", `id ${item.id}`, "id"));
  for (const [name, url] of item.images) {
    const img = element("img");
    img.src = url;
    img.alt = `${name} of ${item.id}`;
    box.append(img);
  }
  for (const [name, text] of item.texts) {
    const p = element("p", text, "text");
    p.title = name;
    box.append(p);
  }
  if (item.numbers.length) {
    const table = element("table");
    const perRow = 16;
    for (let start = 0; start < item.numbers.length; start += perRow) {
      const names = element("tr");
      const values = element("tr");
      for (const [name, value] of item.numbers.slice(start, start + perRow)) {
        names.append(element("th", name));
        values.append(element("td", value));
      }
      table.append(names, values);
    }
    box.append(table);
  }
  state.shownAt = performance.now();
  setButtons(true);
}

function setButtons(enabled) {
  for (const button of document.querySelectorAll("#classes button, #skip")) button.disabled = !enabled;
}

async function loadNext() {
  const answer = await api("/api/next");
  state.items = answer.items;
  state.waiting = answer.waiting;
  renderItem();
  clearTimeout(state.poll);
  if (answer.waiting) state.poll = setTimeout(pollNext, 300);
}

function pollNext() {
  if (state.busy) state.poll = setTimeout(pollNext, 300);
  else act(loadNext);
}

function renderProgress(p) {
  $("n-labeled").textContent = p.n_labeled;
  $("n-pool").textContent = p.n_pool;
  $("bar-fill").style.width = `${Math.min(100, (100 * p.n_labeled) / Math.max(1, p.n_pool)).toFixed(1)}%`;
  $("model-version").textContent = p.model_version;
  $("accuracy").textContent = p.accuracy === null
    ? (p.has_test ? "after the first fit" : "no --test set")
    : `${(100 * p.accuracy).toFixed(1)}% (${p.n_test} held out)`;
  $("fit-state").textContent = p.fitting ? "fitting…" : (p.fit_error ? p.fit_error : "up to date");
  $("sparkline").innerHTML = p.sparkline; // built by the server from numbers only
  const counts = $("counts");
  counts.replaceChildren();
  for (const [name, n] of Object.entries(p.counts)) counts.append(element("li", `${name}: ${n}`));
  $("undo").disabled = !p.can_undo;
}

async function refreshProgress() {
  renderProgress(await api("/api/progress"));
}

// One action at a time: keys pressed while one runs are ignored, so that no label is given
// to an item that is not on the screen yet.
async function act(work) {
  if (state.busy) return;
  state.busy = true;
  document.body.dataset.busy = "true"; // for tests and styles: keys are ignored meanwhile
  try {
    await work();
  } catch (error) {
    say(error.message, true);
  } finally {
    state.busy = false;
    document.body.dataset.busy = "false";
  }
}

function labelCurrent(cls) {
  const item = state.items[0];
  if (!item) return;
  act(async () => {
    const leadTime = (performance.now() - state.shownAt) / 1000;
    const answer = await api("/api/label", { id: item.id, label: cls.value, lead_time: leadTime });
    say(`${item.id} → ${cls.name}`);
    renderProgress(answer.progress);
    await loadNext();
  });
}

function skipCurrent() {
  const item = state.items[0];
  if (!item) return;
  act(async () => {
    const answer = await api("/api/skip", { id: item.id });
    say(`${item.id} skipped (Backspace brings it back)`);
    renderProgress(answer.progress);
    await loadNext();
  });
}

function undoLast() {
  act(async () => {
    const answer = await api("/api/undo", {});
    say(`${answer.kind} of ${answer.undone} undone: answer it again`);
    renderProgress(answer.progress);
    await loadNext();
  });
}

function onKey(event) {
  if (event.altKey || event.metaKey) return;
  if (event.key === "Backspace" || (event.ctrlKey && event.key.toLowerCase() === "z")) {
    event.preventDefault();
    undoLast();
    return;
  }
  if (event.ctrlKey) return;
  if (event.key === " ") {
    event.preventDefault();
    skipCurrent();
    return;
  }
  const cls = state.keys.get(event.key.toLowerCase());
  if (cls) {
    event.preventDefault();
    labelCurrent(cls);
  }
}

async function start() {
  try {
    state.config = await api("/api/config");
  } catch (error) {
    say(error.message, true);
    return;
  }
  $("dataset").textContent = `${state.config.data}: ${state.config.n_pool} items` +
    (state.config.batch_size ? `, batches of ${state.config.batch_size}` : "");
  const classes = $("classes");
  for (const cls of state.config.classes) {
    const button = element("button");
    button.type = "button";
    button.dataset.value = cls.name;
    if (cls.key) {
      button.dataset.key = cls.key;
      button.title = `key ${cls.key}`;
      // The key is shown apart only when it is not the class's own name.
      if (cls.key === cls.name.toLowerCase()) button.textContent = cls.name;
      else button.append(element("kbd", cls.key), ` ${cls.name}`);
      state.keys.set(cls.key, cls);
    } else {
      button.textContent = cls.name;
    }
    button.addEventListener("click", () => labelCurrent(cls));
    classes.append(button);
  }
  $("skip").addEventListener("click", skipCurrent);
  $("undo").addEventListener("click", undoLast);
  document.addEventListener("keydown", onKey);
  await act(async () => {
    await refreshProgress();
    await loadNext();
  });
  setInterval(() => refreshProgress().catch((error) => say(error.message, true)), 1500);
}

start();
