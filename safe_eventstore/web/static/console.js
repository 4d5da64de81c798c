// The console's few behaviours that need a script: expand/collapse all, and the live tail.
// Rows of the tail arrive rendered (and escaped) by the server.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-details]");
  if (!button) return;
  const open = button.dataset.details === "open";
  const scope = button.closest("#events") || document;
  scope.querySelectorAll("details.event").forEach((d) => { d.open = open; });
});

function startTail(table) {
  const rows = table.querySelector("#tail-rows");
  const toggle = document.getElementById("tail-toggle");
  const state = document.getElementById("tail-state");
  let next = Number(table.dataset.from);
  let source = null;

  function connect() {
    source = new EventSource(table.dataset.source + "&from=" + next);
    source.addEventListener("open", () => { state.textContent = "live"; });
    source.addEventListener("row", (message) => {
      const position = Number(message.lastEventId);
      if (position < next) return;
      next = position + 1;
      rows.insertAdjacentHTML("beforeend", message.data);
      const row = rows.lastElementChild;
      if (row) row.classList.add("new");
      while (rows.children.length > 500) rows.firstElementChild.remove();
    });
    source.addEventListener("error", () => { state.textContent = "reconnecting…"; });
  }

  function pause() {
    if (source) source.close();
    source = null;
    state.textContent = "paused";
    toggle.textContent = "resume";
  }

  toggle.addEventListener("click", () => {
    if (source) { pause(); } else { connect(); toggle.textContent = "pause"; }
  });
  // An EventSource reconnecting by itself would start again from the page's first
  // position: start each connection from the row after the last one shown instead.
  connect();
}

document.addEventListener("DOMContentLoaded", () => {
  const table = document.getElementById("tail");
  if (table) startTail(table);
});
