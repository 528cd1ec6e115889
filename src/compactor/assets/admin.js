// The SignalDB Compactor admin page's script: sortable columns, the text filter, the periodic
// refresh, the token, and the buttons that start a run through the admin API and follow it.
// Plain JavaScript, no build step; served at /assets/admin.js.
"use strict";

(function () {
  const TOKEN_KEY = "signaldb_compactor_token";
  const REFRESH_KEY = "signaldb_compactor_refresh";
  const REFRESH_MS = 30000;
  const POLL_MS = 1000;
  const FINISHED = ["succeeded", "failed", "skipped", "cancelled"];

  // Set while the page follows a run or asks for the token: no refresh then.
  let busy = false;

  const byId = (id) => document.getElementById(id);
  const storedToken = () => sessionStorage.getItem(TOKEN_KEY) || "";

  // --- Sortable tables: click a header to sort by it, again to reverse. ---------------------

  function cellKey(row, index, numeric) {
    const cell = row.cells[index];
    if (!cell) return numeric ? 0 : "";
    const raw = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
    return numeric ? Number(raw) || 0 : raw.toLowerCase();
  }

  function sortTable(table, index, descending) {
    const header = table.tHead.rows[0].cells[index];
    const numeric = header.dataset.type === "num";
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort((a, b) => {
      const x = cellKey(a, index, numeric);
      const y = cellKey(b, index, numeric);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return descending ? -order : order;
    });
    rows.forEach((row) => body.appendChild(row));
    Array.from(table.tHead.rows[0].cells).forEach((th) => th.removeAttribute("aria-sort"));
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
    if (table.id) sessionStorage.setItem("sort:" + table.id, index + ":" + (descending ? "d" : "a"));
  }

  function setUpSorting() {
    document.querySelectorAll("table.sortable").forEach((table) => {
      if (!table.tHead || !table.tBodies[0]) return;
      Array.from(table.tHead.rows[0].cells).forEach((th, index) => {
        th.classList.add("sort-header");
        th.title = "sort by " + th.textContent.trim();
        th.addEventListener("click", () => {
          const descending = th.getAttribute("aria-sort") === "ascending";
          sortTable(table, index, descending);
        });
      });
      const saved = table.id && sessionStorage.getItem("sort:" + table.id);
      if (saved) {
        const [index, way] = saved.split(":");
        if (table.tHead.rows[0].cells[Number(index)]) sortTable(table, Number(index), way === "d");
      }
    });
  }

  // --- The text filter of the fleet's tables. ------------------------------------------------

  function setUpFilter() {
    const input = byId("filter");
    if (!input) return;
    const apply = () => {
      const text = input.value.trim().toLowerCase();
      sessionStorage.setItem("filter", input.value);
      document.querySelectorAll("tr.table-row").forEach((row) => {
        row.hidden = text !== "" && !row.dataset.name.includes(text);
      });
    };
    input.value = sessionStorage.getItem("filter") || "";
    input.addEventListener("input", apply);
    apply();
  }

  // --- The periodic refresh, which the checkbox turns off (remembered in localStorage). -----

  function setUpRefresh() {
    const box = byId("auto-refresh");
    if (!box) return;
    box.checked = localStorage.getItem(REFRESH_KEY) !== "off";
    box.addEventListener("change", () => {
      localStorage.setItem(REFRESH_KEY, box.checked ? "on" : "off");
    });
    setInterval(() => {
      if (box.checked && !busy && document.visibilityState === "visible") location.reload();
    }, REFRESH_MS);
  }

  // --- The token: a form on the 401 page, a form beside the buttons, a way to forget it. ----

  function setCookie(name, value, maxAge) {
    const age = maxAge === undefined ? "" : "; Max-Age=" + maxAge;
    document.cookie = name + "=" + encodeURIComponent(value) + "; SameSite=Strict; Path=/" + age;
  }

  function setUpLogin() {
    const form = byId("login-form");
    if (!form) return;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const token = byId("login-token").value.trim();
      if (!token) return;
      setCookie(form.dataset.cookie, token);
      sessionStorage.setItem(TOKEN_KEY, token);
      location.reload();
    });
  }

  function setUpForget() {
    const button = byId("forget-token");
    if (!button) return;
    button.hidden = !storedToken() && !document.cookie.includes(TOKEN_KEY + "=");
    button.addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      setCookie(TOKEN_KEY, "", 0);
      button.hidden = true;
    });
  }

  // --- The buttons: start a run, follow it, cancel it. ---------------------------------------

  function showError(text) {
    const p = byId("api-error");
    p.textContent = text;
    p.hidden = !text;
  }

  function headers(json) {
    const h = {};
    if (json) h["Content-Type"] = "application/json";
    const token = storedToken();
    if (token) h["Authorization"] = "Bearer " + token;
    return h;
  }

  // The API's JSON error as a line: `403 admin_disabled: changing tables ... is disabled`.
  async function apiError(response) {
    let code = "";
    let message = response.statusText;
    try {
      const body = await response.json();
      code = body.error.code;
      message = body.error.message;
    } catch (_) {
      // Not the API's JSON: the status line says enough.
    }
    if (response.status === 401 || (response.status === 403 && code === "forbidden")) {
      sessionStorage.removeItem(TOKEN_KEY);
    }
    return response.status + (code ? " " + code : "") + ": " + message;
  }

  function showRun(run) {
    byId("run").hidden = false;
    byId("run-id").textContent = run.id;
    byId("run-job").textContent = run.job + (run.dry_run ? ", dry run" : "");
    const status = byId("run-status");
    status.textContent = run.state;
    status.dataset.state = run.state;
    const finished = FINISHED.includes(run.state);
    byId("cancel-run").hidden = finished || run.state === "cancelling";
    byId("cancel-run").dataset.run = run.id;
    byId("reload").hidden = !finished;
    const summary = [run.summary, run.error].filter(Boolean).join(" — ");
    byId("run-summary").textContent = summary;
    return finished;
  }

  async function follow(run) {
    busy = true;
    if (showRun(run)) {
      busy = false;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    let response;
    try {
      response = await fetch("/api/v1/runs/" + run.id, { headers: headers(false) });
    } catch (e) {
      showError("the compactor did not answer: " + e);
      return follow(run);
    }
    if (!response.ok) {
      showError(await apiError(response));
      busy = false;
      return;
    }
    return follow(await response.json());
  }

  async function start(button) {
    const actions = byId("actions");
    if (!storedToken() && actions.dataset.changesEnabled === "true") {
      askToken(button);
      return;
    }
    showError("");
    const body = JSON.stringify({ dry_run: button.dataset.dryRun === "true" });
    let response;
    try {
      response = await fetch(actions.dataset.api + "/" + button.dataset.job, {
        method: "POST",
        headers: headers(true),
        body,
      });
    } catch (e) {
      showError("the compactor did not answer: " + e);
      return;
    }
    if (response.status !== 202) {
      showError(await apiError(response));
      return;
    }
    await follow(await response.json());
  }

  async function cancel() {
    const id = byId("cancel-run").dataset.run;
    const response = await fetch("/api/v1/runs/" + id, { method: "DELETE", headers: headers(false) });
    if (response.status === 202) {
      showRun(await response.json());
    } else {
      showError(await apiError(response));
    }
  }

  let pending = null;

  function askToken(button) {
    pending = button;
    busy = true;
    const form = byId("token-form");
    form.hidden = false;
    byId("token-input").focus();
  }

  function setUpActions() {
    const actions = byId("actions");
    if (!actions) return;
    actions.querySelectorAll("button.action").forEach((button) => {
      button.addEventListener("click", () => start(button));
    });
    byId("cancel-run").addEventListener("click", cancel);
    byId("reload").addEventListener("click", () => location.reload());
    const form = byId("token-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const token = byId("token-input").value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      byId("token-input").value = "";
      form.hidden = true;
      busy = false;
      const button = pending;
      pending = null;
      if (button) start(button);
    });
    byId("token-cancel").addEventListener("click", () => {
      form.hidden = true;
      pending = null;
      busy = false;
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setUpSorting();
    setUpFilter();
    setUpRefresh();
    setUpLogin();
    setUpForget();
    setUpActions();
  });
})();
